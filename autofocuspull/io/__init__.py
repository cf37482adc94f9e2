"""Video I/O (the first and last stage): decode with exact pts times, write H.264 with audio kept."""

from autofocuspull.io.reader import check_input_file, iter_frames, probe, read_audio, scaled_size
from autofocuspull.io.writer import EncodeConfig, check_output_path, transcode

__all__ = [
    "EncodeConfig",
    "check_input_file",
    "check_output_path",
    "iter_frames",
    "probe",
    "read_audio",
    "scaled_size",
    "transcode",
]
