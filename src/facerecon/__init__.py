"""facerecon: one photo -> a textured, animatable 3D face (mesh, UV texture, identity, ARKit expressions, pose).

    import facerecon
    faces = facerecon.reconstruct("photo.jpg")
    faces[0].save("out", "photo")
"""

__version__ = "0.1.0"

from facerecon.detect.mediapipe_faces import detect_faces  # noqa: E402
from facerecon.errors import FaceReconError  # noqa: E402
from facerecon.pipeline import reconstruct, reconstruct_face  # noqa: E402
from facerecon.reconstruction import Reconstruction  # noqa: E402

__all__ = ["FaceReconError", "Reconstruction", "detect_faces", "reconstruct", "reconstruct_face", "__version__"]
