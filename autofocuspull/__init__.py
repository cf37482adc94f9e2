"""autofocuspull: automatic focus pulling and synthetic depth of field for footage already shot.

Data flows one way: ``io`` (decode) → ``perception`` (depth, detection, tracking) → ``cues``
(who speaks, saliency) → ``plan`` (the focus puller) → ``render`` (depth of field) → ``io``
(write). :mod:`autofocuspull.pipeline` is the only module that wires the stages together.
"""

__version__ = "0.1.0"
