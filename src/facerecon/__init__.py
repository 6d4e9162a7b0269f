"""facerecon: one photo -> a textured, animatable 3D face (mesh, UV texture, identity, ARKit expressions, pose).

import facerecon
faces = facerecon.reconstruct("photo.jpg")
faces[0].save("out", "photo")
"""

import os

from threadpoolctl import threadpool_limits

# The heavy work runs in torch's thread pool; OpenBLAS's own threads, spinning beside it on a few cores, made
# NumPy's small solves between torch calls 10-20x slower (video tracking). A caller's own setting wins.
if "OPENBLAS_NUM_THREADS" not in os.environ:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # BLAS libraries loaded from now on
    threadpool_limits(1, user_api="blas")  # and those already loaded (NumPy or SciPy imported before us)

__version__ = "0.1.0"

from facerecon.errors import FaceReconError
from facerecon.io.image import LoadedImage, load_image
from facerecon.pipeline import Reconstructor, detect_faces, reconstruct
from facerecon.reconstruction import Reconstruction

__all__ = [
    "FaceReconError",
    "LoadedImage",
    "Reconstruction",
    "Reconstructor",
    "__version__",
    "detect_faces",
    "load_image",
    "reconstruct",
]
