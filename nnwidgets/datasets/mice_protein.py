"""Mice protein expression (Higuera, Gardiner & Cios 2015; UCI "Mice Protein Expression").

1080 measurements x 77 proteins of 72 control and Ts65Dn (Down syndrome model)
mice, 8 classes. Looked up in this order:

1. ``path`` argument (the UCI ``Data_Cortex_Nuclear.csv``, or an ``.xls`` export
   saved as CSV);
2. ``$NNWIDGETS_DATA_DIR/Data_Cortex_Nuclear.csv``;
3. OpenML dataset 40966 ("MiceProtein") through scikit-learn's ``fetch_openml``
   and its cache (``data_home``). scikit-learn drops the columns OpenML marks
   as ignored (MouseID, Genotype, Treatment, Behavior), so the frame is rebuilt
   from the cached raw ARFF file to have the same columns as the CSV.

The frame is the one ``pd.read_csv(path, encoding="utf-8-sig")`` gives (the UCI
file starts with a UTF-8 byte-order mark), so the lecture's code and numbers
reproduce.
"""

from __future__ import annotations

import csv
import gzip
import io
import pathlib

FILENAME = "Data_Cortex_Nuclear.csv"
OPENML_ID = 40966
CLASSES = ["c-CS-m", "c-SC-m", "c-CS-s", "c-SC-s", "t-CS-m", "t-SC-m", "t-CS-s", "t-SC-s"]
META_COLUMNS = ["MouseID", "Genotype", "Treatment", "Behavior", "class"]

_DESCR = """\
Mice Protein Expression (Higuera C, Gardiner KJ, Cios KJ (2015) Self-organizing
feature maps identify proteins critical to learning in a mouse model of Down
syndrome. PLoS ONE 10(6): e0129126; UCI ML repository)
---------------------------------------------------------------------------------
Real data (not simulated), read from: {origin}
1080 rows (15 measurements of each of 72 mice) x 82 columns: MouseID, the
expression levels of 77 proteins (DYRK1A_N ... CaNA_N, some missing), Genotype
(Control / Ts65Dn), Treatment (Memantine / Saline), Behavior (C/S: stimulated
to learn, S/C: not) and class (the 8 combinations, e.g. c-CS-m, t-SC-s).
"""


def load_mice_protein(path=None, data_home=None):
    """The mice protein expression table, as the lecture reads it.

    Parameters
    ----------
    path : path to ``Data_Cortex_Nuclear.csv``. When None, ``$NNWIDGETS_DATA_DIR``
        is searched, then OpenML (needs the network the first time; cached after).
    data_home : scikit-learn data home for the OpenML cache.

    Returns
    -------
    Bunch with ``frame`` (1080 x 82 DataFrame, exactly ``pd.read_csv(path,
    encoding="utf-8-sig")``), ``data`` (the 77 protein columns), ``target``
    (``class``), ``feature_names``, ``target_names``, ``simulated=False``,
    ``origin`` and ``DESCR``.
    """
    import pandas as pd

    from nnwidgets.datasets.remote import data_dir

    local = data_dir() if path is None else None
    if local is not None and (local / FILENAME).exists():
        path = local / FILENAME
    if path is not None:
        path = pathlib.Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"load_mice_protein(path={str(path)!r}): no such file. Pass the path of the UCI "
                f"{FILENAME}, or path=None to download it from OpenML ({OPENML_ID})."
            )
        frame = pd.read_csv(path, encoding="utf-8-sig")
        origin = str(path)
    else:
        frame = _frame_from_openml(data_home, local)
        origin = f"OpenML dataset {OPENML_ID} (MiceProtein), via scikit-learn's fetch_openml cache"
    return _bunch(frame, origin)


def _bunch(frame, origin):
    from sklearn.utils import Bunch

    missing = [c for c in META_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the mice protein table from {origin} lacks the columns {missing}: is it the UCI "
            f"{FILENAME}?"
        )
    features = [c for c in frame.columns if c not in META_COLUMNS]
    return Bunch(
        frame=frame,
        data=frame[features],
        target=frame["class"],
        feature_names=features,
        target_names=sorted(frame["class"].dropna().unique()),
        simulated=False,
        origin=origin,
        DESCR=_DESCR.format(origin=origin),
    )


def _frame_from_openml(data_home=None, local=None):
    """Download (or reuse) OpenML 40966 with scikit-learn and rebuild the full CSV frame.
    ``local``: the $NNWIDGETS_DATA_DIR folder, which has no CSV (named in the error)."""
    from sklearn.datasets import fetch_openml, get_data_home

    try:
        bunch = fetch_openml(data_id=OPENML_ID, as_frame=True, parser="auto", data_home=data_home)
    except OSError as exc:  # URLError, HTTPError, timeouts: no network, or OpenML down
        if local is not None:
            raise ConnectionError(
                f"load_mice_protein(): NNWIDGETS_DATA_DIR ({local}) has no {FILENAME}, and OpenML dataset "
                f"{OPENML_ID} (MiceProtein) could not be downloaded instead: {exc}. Offline, download "
                f"{FILENAME} from the UCI repository (Mice Protein Expression) once and put it in {local}, "
                f"or pass load_mice_protein(path='.../{FILENAME}')."
            ) from exc
        raise ConnectionError(
            f"load_mice_protein(): could not download OpenML dataset {OPENML_ID} (MiceProtein): {exc}. "
            f"Offline, download {FILENAME} from the UCI repository (Mice Protein Expression) once and "
            f"pass load_mice_protein(path='.../{FILENAME}'), or put it in a folder named by the "
            "NNWIDGETS_DATA_DIR environment variable."
        ) from exc
    file_id = str(bunch.details.get("file_id", ""))
    cache = pathlib.Path(get_data_home(data_home)) / "openml"
    candidates = [p for p in cache.rglob("*") if p.is_file() and file_id
                  and any(part.split(".")[0] == file_id for part in p.parts)]
    if not candidates:
        raise FileNotFoundError(
            f"fetch_openml downloaded MiceProtein but its raw ARFF file (file id {file_id}) was not "
            f"found under {cache}; download {FILENAME} from the UCI repository and pass path=..."
        )
    raw = candidates[0].read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return frame_from_arff(raw.decode("utf-8"))


def frame_from_arff(text: str):
    """Parse the MiceProtein ARFF text into the CSV's DataFrame (all columns, '?' = missing)."""
    import pandas as pd

    names, rows = [], []
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        lower = stripped.lower()
        if lower.startswith("@attribute"):
            rest = stripped[len("@attribute"):].strip()
            if rest[0] in "'\"":
                quote = rest[0]
                end = rest.index(quote, 1)
                name = rest[1:end]
            else:
                name = rest.split(None, 1)[0]
            names.append(name)
        elif lower.startswith("@data"):
            break
    reader = csv.reader(io.StringIO("\n".join(lines)), quotechar="'", skipinitialspace=True)
    for row in reader:
        if row and not row[0].startswith("%"):
            rows.append(row)
    # write the rows back as CSV and let pandas parse them as it parses the UCI file
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if v.strip() == "?" else v.strip() for v in row])
    out.seek(0)
    return pd.read_csv(out)
