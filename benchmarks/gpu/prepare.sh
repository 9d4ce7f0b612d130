#!/usr/bin/env bash
# Run HERE, before a device call (no GPU needed): fetches, as Python 3.12
# wheels, what the GPU machine's image lacks for the CUDA tests and the GPU
# benchmarks, into .whl/, and links the mice-protein CSV's folder as .gpu-data
# (so that the CSV itself travels; it is never committed). Both are ignored
# through .git/info/exclude. Then call the device tool's `run` with
#   command: bash benchmarks/gpu/run.sh
#   carry:   [".whl", ".gpu-data/Data_Cortex_Nuclear.csv"]
#   timeout_s: 600
# (see benchmarks/gpu/run.sh for what it runs and what comes back).
set -euo pipefail
cd "$(dirname "$0")/../.."
for p in /.whl/ /.gpu-data; do
    grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude
done
# The image has torch, numpy, scipy, pandas, matplotlib, pytest, pytest-xdist,
# psutil, pygments (KINDS.md). scikit-learn is pinned to the version the
# estimators are tested against; the rest is what IPython / ipywidgets /
# anywidget need for the %%gputime panel tests.
PKGS=(
    scikit-learn==1.9.1
    ipython==9.18.1 ipython-pygments-lexers jedi==0.20.1 parso==0.8.7 matplotlib-inline==0.2.2
    pexpect==4.9.0 ptyprocess==0.7.0 prompt_toolkit==3.0.53 wcwidth==0.9.4 stack-data==0.6.3
    asttokens==3.0.2 executing==2.3.0 pure_eval==0.2.4 traitlets==5.16.1 decorator
    ipywidgets==8.1.9 comm==0.2.3 widgetsnbextension==4.0.16 jupyterlab_widgets==3.0.17
    anywidget==0.11.0 psygnal==0.16.1 typing_extensions
)
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "${PKGS[@]}"
csv=../shared/datasets/Data_Cortex_Nuclear.csv
if [ -f "$csv" ]; then
    ln -sfn "$(cd ../shared/datasets && pwd)" .gpu-data
else
    echo "note: $csv not found; the mice workloads will be skipped on the GPU machine" >&2
fi
du -sh .whl
ls .whl
