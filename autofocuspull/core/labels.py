"""The label vocabulary, in one place: detector class ids and names, and the groups of labels the
stages treat alike (people, hand-held products, salient objects worth tracking).

Class ids 0..79 are COCO in YOLOX order; :data:`FACE_CLASS_ID` marks a face and
:data:`OBJECT_CLASS_ID` a salient thing no detector names (found by saliency and motion, labelled
"object").
"""

from __future__ import annotations

FACE_CLASS_ID = 1000
OBJECT_CLASS_ID = 1001
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
PERSON_CLASS_ID = 0


def class_name(class_id: int) -> str:
    """Human name of a class id (COCO index or :data:`FACE_CLASS_ID`)."""
    if class_id == FACE_CLASS_ID:
        return "face"
    if class_id == OBJECT_CLASS_ID:
        return "object"
    if 0 <= class_id < len(COCO_NAMES):
        return COCO_NAMES[class_id]
    return f"class{class_id}"


# Hand-held products a demo shows to the camera (a prior of the saliency cue and the planner)
PRODUCT_LABELS = frozenset(
    {"bottle", "cup", "wine glass", "cell phone", "book", "remote", "banana", "apple", "orange",
     "scissors", "teddy bear", "toothbrush", "hair drier", "vase", "handbag", "sports ball",
     "mouse", "keyboard", "laptop", "clock", "donut", "sandwich", "cake"}
)  # fmt: skip
# People: a person box or a face (the stages treat both as "a person")
PERSON_LABELS = frozenset({"person", "face"})
# Animals (COCO's): a prior of the saliency cue of their own
ANIMAL_LABELS = frozenset(
    {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
)

# Classes tracked as subjects besides people: the products and the other things a shot can be about
# (animals, props, screens); vehicles and furniture are scenery unless the salient-object finder
# proposes them. The order is the config's (``perception.subjects.salient_class_ids``).
SALIENT_OBJECTS: tuple[str, ...] = (
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush", "handbag", "backpack", "umbrella", "tie", "suitcase", "frisbee",
    "sports ball", "kite", "skateboard", "tennis racket", "dog", "cat", "bird", "bicycle",
    "potted plant", "tv",
)  # fmt: skip
