#!/usr/bin/env bash
# The real-photo development set behind results/photo_devset (the acceptance set of "the shipped initialisation must beat
# ImageNet on real photographs"), built from the development machines' ../shared/realdata:
#   OUT/data     8 test classes of real image/mask pairs (FSS-1000 layout): aeroplane, eiffel, elephant, em_cells, horse,
#                person, polyp, vessels (5 or 12 examples each), and two stand-in horse classes zz_horse_a / zz_horse_b
#   OUT/split    train.txt zz_horse_a, val.txt zz_horse_b (UHO searches on it), test.txt the 8 classes (1-shot)
#   OUT/split5   the same, test.txt the classes with 12 examples (5 shots + 4 queries + spare): em_cells, horse, vessels (5-shot)
# Usage: bash tools/make_devset.sh [OUT]   (default .devset; `make devset` runs it)
set -euo pipefail
OUT=${1:-.devset}
SRC="$(cd "$(dirname "$0")/.." && pwd)/../shared/realdata/make_photo_devset.sh"
[ -f "$SRC" ] || { echo "make_devset.sh: $SRC is not here (the real image/mask sets are only on the development machines)" >&2; exit 1; }
bash "$SRC" "$OUT"
mkdir -p "$OUT/split5"
cp "$OUT/split/train.txt" "$OUT/split/val.txt" "$OUT/split5/"
printf '%s\n' em_cells horse vessels > "$OUT/split5/test.txt"
echo "built $OUT/split5 (5-shot test classes: $(tr '\n' ' ' < "$OUT/split5/test.txt"))"
