"""facerecon: one photo -> a textured, animatable 3D face (mesh, UV texture, identity, ARKit expressions, pose).

import facerecon
faces = facerecon.reconstruct("photo.jpg")
faces[0].save("out", "photo")
"""

__version__ = "0.1.0"

from facerecon.detect.mediapipe_faces import detect_faces
from facerecon.errors import FaceReconError
from facerecon.pipeline import reconstruct, reconstruct_face
from facerecon.reconstruction import Reconstruction

__all__ = ["FaceReconError", "Reconstruction", "__version__", "detect_faces", "reconstruct", "reconstruct_face"]
