"""Run inside Blender: import a facerecon GLB and render it through its `photo_camera`, then from the side.

    blender -b --factory-startup --python-expr "import numpy; numpy.bool = bool" \
        --python tools/blender/render_views.py -- FILE.glb OUT_PREFIX WIDTH HEIGHT

Writes OUT_PREFIX_camera.png (the photo's own view: the GLB's camera node, at the photo's aspect) and
OUT_PREFIX_side.png (the camera orbited 60° about the head), RGBA with a transparent background. Cycles
on the CPU, a sun from the camera's side and a grey world; the materials are the GLB's own. (The
numpy.bool line is for Blender 3.4's glTF add-on, which predates numpy 1.24.)
"""

import math
import sys

import bpy
from mathutils import Matrix, Vector

path, prefix, width, height = sys.argv[sys.argv.index("--") + 1 :][:4]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=path)
scene = bpy.context.scene
camera = next(o for o in scene.objects if o.type == "CAMERA")
head = [o for o in scene.objects if o.type == "MESH"]

scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 32
scene.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)
scene.render.film_transparent = True
camera.data.sensor_fit = "VERTICAL"  # the GLB's yfov is the photo's vertical field of view
world = bpy.data.worlds.new("grey")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.35, 0.35, 0.35, 1.0)
world.node_tree.nodes["Background"].inputs["Strength"].default_value = 1.0
scene.world = world
sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
sun.data.energy = 2.0
sun.rotation_euler = camera.matrix_world.to_euler()
scene.collection.objects.link(sun)

scene.camera = camera
scene.render.filepath = f"{prefix}_camera.png"
bpy.ops.render.render(write_still=True)

# The side view: the photo's camera orbited 60° about the head's vertical axis, around the head's centre.
corners = [o.matrix_world @ Vector(c) for o in head for c in o.bound_box]
centre = sum(corners, Vector()) / len(corners)
up = head[0].matrix_world.to_3x3() @ Vector((0, 0, 1))  # the importer turns glTF's +Y up into Blender's +Z
orbit = Matrix.Translation(centre) @ Matrix.Rotation(math.radians(60), 4, up) @ Matrix.Translation(-centre)
side = bpy.data.objects.new("side", camera.data)
scene.collection.objects.link(side)
side.matrix_world = orbit @ camera.matrix_world
sun.rotation_euler = side.matrix_world.to_euler()
scene.camera = side
scene.render.filepath = f"{prefix}_side.png"
bpy.ops.render.render(write_still=True)
