"""Run inside Blender: import one OBJ or GLB, report what Blender sees, render one picture.

    blender -b --python-expr "import numpy; numpy.bool = bool" --python inspect_import.py -- FILE OUT.png

Prints one line "FACERECON_REPORT {json}": mesh objects, vertex count and shape key names of the skin's
(the OBJ's "face" object, the GLB's one mesh), the sizes of its materials' texture images.
(The numpy.bool line is for Blender 3.4's glTF add-on, which predates numpy 1.24.)
"""

import json
import sys

import bpy
from mathutils import Vector

path, picture = sys.argv[sys.argv.index("--") + 1 :][:2]
bpy.ops.wm.read_factory_settings(use_empty=True)
if path.endswith(".obj"):
    if hasattr(bpy.ops.wm, "obj_import"):
        bpy.ops.wm.obj_import(filepath=path)
    else:
        bpy.ops.import_scene.obj(filepath=path)
else:
    bpy.ops.import_scene.gltf(filepath=path)

meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
mesh = next((o for o in meshes if o.name == "face"), meshes[0])  # the OBJ's skin object, or the GLB's mesh
keys = mesh.data.shape_keys
images = []
for slot in mesh.material_slots:
    if slot.material and slot.material.use_nodes:
        for node in slot.material.node_tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None:
                images.append(list(node.image.size))
report = {
    "objects": sorted(o.name for o in meshes),
    "vertices": len(mesh.data.vertices),
    "shape_keys": [k.name for k in keys.key_blocks][1:] if keys else [],  # [0] is the basis
    "images": images,
}

# One picture: a camera in front of the head, a sun, Cycles on the CPU (no GPU or display needed).
scene = bpy.context.scene
corners = [mesh.matrix_world @ Vector(c) for c in mesh.bound_box]
centre = sum(corners, Vector()) / 8
size = max((c - centre).length for c in corners)
# Both importers turn our +Y up into Blender's +Z up, so the face's +Z becomes Blender's -Y.
forward = mesh.matrix_world.to_3x3() @ Vector((0, -1, 0))
camera = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(camera)
camera.location = centre + forward.normalized() * size * 3.5
camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
scene.camera = camera
sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
sun.rotation_euler = camera.rotation_euler
scene.collection.objects.link(sun)
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
scene.render.resolution_x = scene.render.resolution_y = 160
scene.render.filepath = picture
bpy.ops.render.render(write_still=True)
print("FACERECON_REPORT " + json.dumps(report))
