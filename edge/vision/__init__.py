"""The vision core: image files in, faces, aligned crops, embeddings and matches out.

Everything here runs on the device and is shared by enrolment (``gallery``), the daemon and CLI
(``edge``) and the converter's evaluations: detection, landmarks, alignment, the crop, the int8
embedding through LiteRT, matching and the model card. It imports nothing from those layers (the
import-direction test in ``tests/test_architecture.py`` keeps it so).
"""
