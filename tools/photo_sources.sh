#!/usr/bin/env bash
# The unlabelled photographs behind the photo tasks (nbs/16_photo_tasks.ipynb): Debian's opencv-doc sample photographs,
# mate-backgrounds nature photographs and scikit-image's sample photographs, resized to 512 px, into OUT (default .photos).
set -eu
OUT=${1:-.photos}; T=$(mktemp -d); mkdir -p "$OUT"
(cd "$T" && apt-get download opencv-doc mate-backgrounds >/dev/null && for d in *.deb; do dpkg-deb -x "$d" x; done)
O=$T/x/usr/share/doc/opencv-doc/examples/data
for f in HappyFish.jpg apple.jpg baboon.jpg building.jpg butterfly.jpg fruits.jpg home.jpg leuvenA.jpg leuvenB.jpg orange.jpg \
         squirrel_cls.jpg stuff.jpg smarties.png aloeL.jpg ela_original.jpg graf1.png box_in_scene.png board.jpg rubberwhale1.png blox.jpg; do
  cp "$O/$f" "$OUT/opencv_$f"; done
for f in "$T"/x/usr/share/backgrounds/mate/nature/*.jpg; do cp "$f" "$OUT/mate_$(basename "$f")"; done
${PYTHON:-python3} - "$OUT" <<'PY'
import sys, numpy as np, skimage.data as d
from pathlib import Path
from PIL import Image
out = Path(sys.argv[1])
for n in ['astronaut', 'chelsea', 'coffee', 'rocket', 'immunohistochemistry']:
    Image.fromarray(np.asarray(getattr(d, n)())[..., :3].astype(np.uint8)).save(out/f'skimage_{n}.jpg', quality=92)
for p in sorted(out.iterdir()):
    im = Image.open(p).convert('RGB'); im.thumbnail((512, 512)); q = p.with_suffix('.jpg'); im.save(q, quality=90)
    if q != p: p.unlink()
print(len(list(out.iterdir())), 'photographs in', out)
PY
rm -rf "$T"
