"""Peak memory of one extreme-aspect image (1000x1 px) in the Context Encoder training loader, before and after the
4:1 centre crop (datamodules.inpainting.MAX_ASPECT), at load_size 350 (train.lua loadSize). Run once per mode (a
fresh process each: ru_maxrss is the process peak):

    PYTHONPATH=. python benchmarks/aspect_memory.py before
    PYTHONPATH=. python benchmarks/aspect_memory.py after
"""
import resource
import sys
import tempfile
from pathlib import Path
from PIL import Image
from datamodules import inpainting as I
mode = sys.argv[1]
path = Path(tempfile.gettempdir()) / "strip_1000x1.png"
Image.new("RGB", (1000, 1), (90, 120, 200)).save(path)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = Image.open(path).convert("RGB")
if mode == "before":  # the rule before: resize the whole image to a short side of load_size
    w, h = image.size; s = 350 / min(w, h)
    out = image.resize((max(350, round(w * s)), max(350, round(h * s))), Image.BILINEAR)
else:
    import warnings; warnings.simplefilter("ignore")
    out = I._resize_short(image, 350, path)
t = I._to_tensor(out)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{mode}: decoded {tuple(t.shape)}, peak RSS {peak / 1e6:.2f} GB (+{(peak - base) / 1e6:.2f} GB over the imports)")
