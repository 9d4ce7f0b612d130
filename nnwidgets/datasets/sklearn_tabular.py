"""The lectures' scikit-learn datasets: diabetes (raw units, lecture column names) and digits."""

from __future__ import annotations

#: the lecture's column names, in scikit-learn's order (age sex bmi bp s1..s6) + the target
DIABETES_COLUMNS = ["AGE", "SEX", "BMI", "BP", "TC", "LDL", "HDL", "TCH", "LTG", "GLU"]
DIABETES_TARGET = "DIS"
_INTEGER_COLUMNS = ["AGE", "SEX", "TC", "GLU", "DIS"]

_DIABETES_DESCR = """\
Diabetes (Efron et al. 2004), in raw units with the lecture's column names
------------------------------------------------------------------------------
442 patients, 10 baseline measurements and a quantitative measure of disease
progression one year later (DIS). This is scikit-learn's
``load_diabetes(scaled=False)`` renamed as in the lecture's ``data/diabetes.csv``
(https://www4.stat.ncsu.edu/~boos/var.select/diabetes.tab.txt):

AGE age in years, SEX (1/2), BMI body mass index, BP average blood pressure,
TC total serum cholesterol, LDL low-density lipoproteins, HDL high-density
lipoproteins, TCH total cholesterol / HDL, LTG log of serum triglycerides,
GLU blood sugar level; target DIS: disease progression.

Real data (not simulated). With ``train_test_split(X, y, shuffle=True,
test_size=0.4, random_state=3)`` a LinearRegression predicts 97.61320682 for
the first test patient, as in the lecture.
"""


def load_diabetes():
    """The diabetes data as in the lecture: a DataFrame with AGE ... GLU and DIS.

    Returns
    -------
    Bunch with ``frame`` (442 x 11 DataFrame, columns AGE SEX BMI BP TC LDL HDL
    TCH LTG GLU DIS), ``data`` (442 x 10 DataFrame), ``target`` (Series DIS),
    ``feature_names``, ``target_names``, ``simulated=False`` and ``DESCR``.
    """
    from sklearn import datasets
    from sklearn.utils import Bunch

    raw = datasets.load_diabetes(scaled=False, as_frame=True)
    frame = raw.frame.copy()
    frame.columns = DIABETES_COLUMNS + [DIABETES_TARGET]
    for column in _INTEGER_COLUMNS:
        values = frame[column]
        if (values == values.round()).all():
            frame[column] = values.astype("int64")
    return Bunch(
        frame=frame,
        data=frame[DIABETES_COLUMNS],
        target=frame[DIABETES_TARGET],
        feature_names=list(DIABETES_COLUMNS),
        target_names=[DIABETES_TARGET],
        simulated=False,
        DESCR=_DIABETES_DESCR,
    )


def load_digits():
    """scikit-learn's 8x8 handwritten digits (1797 images), as in the digits lecture.

    Returns
    -------
    Bunch with ``data`` (1797 x 64), ``target`` (0-9), ``images`` (1797 x 8 x 8),
    ``frame`` (64 pixel columns + ``target``), ``feature_names``,
    ``target_names``, ``simulated=False`` and ``DESCR``.
    """
    from sklearn import datasets
    from sklearn.utils import Bunch

    raw = datasets.load_digits(as_frame=True)
    return Bunch(
        data=raw.data.to_numpy(),
        target=raw.target.to_numpy(),
        images=raw.images,
        frame=raw.frame,
        feature_names=list(raw.feature_names),
        target_names=list(raw.target_names),
        simulated=False,
        DESCR=raw.DESCR,
    )
