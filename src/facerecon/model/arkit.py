"""ARKit's 52 blendshape names, in Apple's documented order, and how ICT-FaceKit's 53 shapes map onto them."""

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip


def ict_sources(arkit_name: str, ict_names: list[str]) -> list[str]:
    """ICT-FaceKit shape names whose deltas add up to this ARKit shape (empty for tongueOut).

    ICT's _L/_R are the subject's left/right, as ARKit's Left/Right are (jawLeft, mouthLeft and their
    Right twins keep ARKit's spelling in ICT); ICT splits browInnerUp and cheekPuff into halves, which we add
    back together.
    """
    if arkit_name in ict_names:
        return [arkit_name]
    if arkit_name == "tongueOut":
        return []
    if arkit_name in ("browInnerUp", "cheekPuff"):
        return [arkit_name + "_L", arkit_name + "_R"]
    for arkit_side, ict_side in (("Left", "_L"), ("Right", "_R")):
        if arkit_name.endswith(arkit_side):
            return [arkit_name[: -len(arkit_side)] + ict_side]
    raise KeyError(f"no ICT-FaceKit shape for {arkit_name}")
