"""The course's datasets: real ones reproduce the lectures' numbers, simulated ones say so."""

import gzip
import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from nnwidgets import datasets
from nnwidgets.datasets import mice_protein, mouse_choice, remote, v1_orientations


def test_diabetes_has_lecture_columns_and_reproduces_first_prediction():
    bunch = datasets.load_diabetes()
    df = bunch.frame
    assert list(df.columns) == "AGE SEX BMI BP TC LDL HDL TCH LTG GLU DIS".split()
    assert df.shape == (442, 11) and bunch.simulated is False
    assert df.loc[0, ["AGE", "SEX", "TC", "DIS"]].tolist() == [59, 2, 157, 151]
    X, y = df.loc[:, "AGE":"GLU"], df["DIS"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, shuffle=True, test_size=0.4, random_state=3)
    pred = LinearRegression().fit(X_train, y_train).predict(X_test[:1])
    assert pred[0] == pytest.approx(97.61320682, abs=1e-8)


def test_digits_bunch():
    bunch = datasets.load_digits()
    assert bunch.data.shape == (1797, 64) and bunch.images.shape == (1797, 8, 8)
    assert set(bunch.target) == set(range(10)) and bunch.simulated is False
    assert bunch.frame.shape == (1797, 65)


def test_mice_protein_from_path_is_exactly_read_csv(mice_csv):
    bunch = datasets.load_mice_protein(mice_csv)
    expected = pd.read_csv(mice_csv, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(bunch.frame, expected)
    assert bunch.frame.columns[0] == "MouseID"  # the byte-order mark is not in the name
    assert bunch.data.shape == (1080, 77) and len(bunch.target_names) == 8


def test_mice_protein_reproduces_lecture_svc_accuracy(mice_csv):
    mice = datasets.load_mice_protein(mice_csv).frame
    mice3 = mice.loc[:, ~(mice.isnull().sum() > 10)].dropna()
    assert mice3.shape == (1073, 74)
    X, y = mice3.loc[:, "DYRK1A_N":"CaNA_N"], mice3["class"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, shuffle=True, test_size=0.3, random_state=3)
    acc = accuracy_score(y_test, SVC(kernel="rbf").fit(X_train, y_train).predict(X_test))
    assert acc == 0.6832298136645962


def test_mice_protein_from_data_dir_env(mice_csv, monkeypatch, tmp_path):
    (tmp_path / "Data_Cortex_Nuclear.csv").write_bytes(mice_csv.read_bytes())
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(tmp_path))
    assert datasets.load_mice_protein().origin == str(tmp_path / "Data_Cortex_Nuclear.csv")


def test_mice_protein_missing_path_names_it():
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        datasets.load_mice_protein("nope.csv")


def test_mice_protein_offline_says_how_to_load_it_without_network(monkeypatch):
    import urllib.error

    import sklearn.datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.delenv("NNWIDGETS_DATA_DIR", raising=False)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_network)
    with pytest.raises(ConnectionError, match="NNWIDGETS_DATA_DIR") as info:
        datasets.load_mice_protein()
    assert "Data_Cortex_Nuclear.csv" in str(info.value) and "path=" in str(info.value)


def _arff_from_csv(frame):
    lines = ["% MiceProtein test copy", "@RELATION MiceProtein"]
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name])
        lines.append(f"@ATTRIBUTE '{name}' " + ("NUMERIC" if numeric else "STRING"))
    lines.append("@DATA")
    text = frame.to_csv(header=False, index=False, na_rep="?", float_format="%.17g")
    return "\n".join(lines) + "\n" + text


def test_mice_protein_openml_path_rebuilds_csv_frame(mice_csv, monkeypatch, tmp_path):
    """With no file, the OpenML copy (via fetch_openml's cache) gives the CSV's frame."""
    expected = pd.read_csv(mice_csv, encoding="utf-8-sig")
    cache = tmp_path / "openml" / "openml.org" / "data" / "v1" / "download" / "1804243"
    cache.mkdir(parents=True)
    (cache / "MiceProtein.arff.gz").write_bytes(gzip.compress(_arff_from_csv(expected).encode()))

    class FakeBunch:
        details = {"file_id": "1804243"}

    calls = []

    def fake_fetch_openml(**kwargs):
        calls.append(kwargs)
        return FakeBunch()

    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    monkeypatch.delenv("NNWIDGETS_DATA_DIR", raising=False)
    bunch = datasets.load_mice_protein(data_home=str(tmp_path))
    assert calls[0]["data_id"] == mice_protein.OPENML_ID
    pd.testing.assert_frame_equal(bunch.frame, expected)


def test_v1_simulated_has_lecture_shape_is_labelled_and_deterministic():
    a = datasets.load_v1_orientations()
    assert a.data.shape == (360, 23589) and a.target.shape == (360,)
    assert a.simulated is True and "SIMULATED" in a.DESCR
    np.testing.assert_allclose(a.data.mean(axis=0)[:100], 0, atol=1e-4)  # z-scored
    b = datasets.load_v1_orientations()
    np.testing.assert_array_equal(a.data[:, :50], b.data[:, :50])
    assert a.neural_responses is a.data and a.grating_orientations is a.target


def test_v1_simulated_orientation_is_decodable_from_a_subset():
    X, theta = v1_orientations.simulate_v1_orientations(n_neurons=3000)
    y = np.cos(np.deg2rad(2 * theta))  # orientation (period 180 degrees)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=3)
    pred = LinearRegression().fit(X_train, y_train).predict(X_test)
    assert mean_squared_error(y_test, pred) < 0.3 * y_test.var()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=200 as in a1
def test_v1_simulated_direction_is_learnable_by_lr_and_mlp_with_the_lecture_split():
    # Assignment 1's setting: raw degrees as the target, first 500 neurons, lecture's split.
    # Both decoders must learn a real signal (well below the target's variance), and the
    # network must be at least in the league of linear regression (it was not, before
    # the simulation had enough direction-selective neurons).
    from nnwidgets import MLPRegressor

    bunch = datasets.load_v1_orientations()
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data[:, :500], bunch.target, shuffle=True, test_size=0.4, random_state=3)
    variance = y_test.var()
    lr_mse = mean_squared_error(y_test, LinearRegression().fit(X_train, y_train).predict(X_test))
    net = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=200)
    net_mse = mean_squared_error(y_test, net.fit(X_train, y_train).predict(X_test))
    assert lr_mse < 0.5 * variance, (lr_mse, variance)
    assert net_mse < 0.35 * variance, (net_mse, variance)
    assert net_mse < 1.25 * lr_mse, (net_mse, lr_mse)


def test_mouse_choice_simulated_is_about_90_percent_decodable():
    bunch = datasets.load_mouse_choice()
    assert bunch.data.shape == (276, 691) and set(np.unique(bunch.target)) == {0.0, 1.0}
    assert bunch.simulated is True and "SIMULATED" in bunch.DESCR
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.spikes, bunch.choices, shuffle=True, test_size=0.3, random_state=3)
    acc = accuracy_score(y_test, LogisticRegression().fit(X_train, y_train).predict(X_test))
    assert 0.82 <= acc <= 0.97


def test_fmri_simulated_layout_and_signal():
    bunch = datasets.load_fmri_categories()
    assert bunch.data.shape == (520, 992) and bunch.simulated is True
    assert "SIMULATED" in bunch.DESCR
    assert list(bunch.target[:11]) == [0] * 5 + [1] * 5 + [2]
    assert list(bunch.target[130:132]) == [0, 0] and sorted(set(bunch.sessions)) == list("1234")
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.2, random_state=42)
    acc = accuracy_score(y_test, LogisticRegression(max_iter=500).fit(X_train, y_train).predict(X_test))
    assert acc > 5 / 26  # chance is 1/26


def test_fmri_local_file(tmp_path):
    path = tmp_path / "maps.npz"
    np.savez(path, X=np.ones((52, 7)), y=np.arange(52) % 26)
    bunch = datasets.load_fmri_categories(source="local", path=path)
    assert bunch.data.shape == (52, 7) and bunch.simulated is False


@pytest.mark.parametrize("loader", [datasets.load_v1_orientations, datasets.load_mouse_choice,
                                    datasets.load_fmri_categories])
def test_unknown_source_is_a_clear_error(loader):
    with pytest.raises(ValueError, match="'osf'.*'simulated'"):
        loader(source="osf")


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_neuromatch_download_checks_md5_caches_and_pins_sha256(tmp_path, monkeypatch, capsys):
    payload = _npz_bytes(spikes=np.ones((4, 3)), choices=np.array([0, 1, 0, 1]))
    good = remote.RemoteFile(url="https://example.invalid/x", filename="steinmetz.npz",
                             md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setattr(mouse_choice, "NEUROMATCH_FILE", good)
    opened = []

    def opener(url):
        opened.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(remote.urllib.request, "urlopen", opener)
    bunch = datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path)
    assert bunch.simulated is False and bunch.data.shape == (4, 3)
    assert (tmp_path / "steinmetz.npz.sha256").read_text().split()[0] == \
        hashlib.sha256(payload).hexdigest()
    datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path)
    assert opened == ["https://example.invalid/x"]  # second load came from the cache
    assert "Downloading" in capsys.readouterr().out

    # a cached file that changed after download is rejected
    (tmp_path / "steinmetz.npz").write_bytes(payload + b"x")
    with pytest.raises(remote.ChecksumError, match="md5"):
        datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path)


def test_corrupted_download_is_rejected_and_not_cached(tmp_path):
    bad = remote.RemoteFile(url="u", filename="f.npz", md5="0" * 32)
    with pytest.raises(remote.ChecksumError, match="expected 0000"):
        remote.fetch(bad, tmp_path, opener=lambda url: io.BytesIO(b"corrupt"))
    assert list(tmp_path.iterdir()) == []


def test_published_neuromatch_urls_and_digests():
    assert v1_orientations.NEUROMATCH_FILE.url == "https://osf.io/683xc/download"
    assert mouse_choice.NEUROMATCH_FILE.url == "https://osf.io/r9gh8/download"
    assert len(v1_orientations.NEUROMATCH_FILE.md5) == 32


def _offline(monkeypatch):
    import urllib.error

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(remote.urllib.request, "urlopen", no_network)


def test_download_offline_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    _offline(monkeypatch)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(data_dir))
    with pytest.raises(ConnectionError) as info:
        datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path / "cache")
    message = str(info.value)
    assert "could not reach https://osf.io/r9gh8/download" in message and "Name or service not known" in message
    assert f"put W1D4_steinmetz_data.npz in {data_dir}" in message and "NNWIDGETS_DATA_DIR" in message
    assert list((tmp_path / "cache").iterdir()) == []  # no partial download left behind
    monkeypatch.delenv("NNWIDGETS_DATA_DIR")
    with pytest.raises(ConnectionError, match="export NNWIDGETS_DATA_DIR=/path/to/folder"):
        datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path / "cache")


def test_a_download_put_in_the_data_dir_is_used_offline_and_checked(tmp_path, monkeypatch):
    _offline(monkeypatch)
    payload = _npz_bytes(spikes=np.ones((4, 3)), choices=np.array([0, 1, 0, 1]))
    monkeypatch.setattr(mouse_choice, "NEUROMATCH_FILE", remote.RemoteFile(
        url="https://example.invalid/x", filename="steinmetz.npz", md5=hashlib.md5(payload).hexdigest()))
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(tmp_path))
    (tmp_path / "steinmetz.npz").write_bytes(payload)
    bunch = datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path / "cache")
    assert bunch.simulated is False and bunch.data.shape == (4, 3)
    (tmp_path / "steinmetz.npz").write_bytes(payload + b"x")
    with pytest.raises(remote.ChecksumError, match="md5"):
        datasets.load_mouse_choice(source="neuromatch", data_home=tmp_path / "cache")


LOADERS_READING_THE_DATA_DIR = [
    lambda: datasets.load_mice_protein(),
    lambda: datasets.load_fmri_categories(source="local"),
    lambda: datasets.load_mouse_choice(source="neuromatch"),
    lambda: datasets.load_v1_orientations(source="neuromatch"),
]


@pytest.mark.parametrize("load", LOADERS_READING_THE_DATA_DIR)
def test_a_data_dir_that_is_not_a_folder_is_named(load, tmp_path, monkeypatch):
    import sklearn.datasets

    def no_download(*args, **kwargs):
        raise AssertionError("must not download when NNWIDGETS_DATA_DIR is wrong")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_download)
    monkeypatch.setattr(remote.urllib.request, "urlopen", no_download)
    monkeypatch.setenv("NNWIDGETS_DATA_HOME", str(tmp_path / "cache"))
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(missing))
    with pytest.raises(FileNotFoundError) as info:
        load()
    assert f"NNWIDGETS_DATA_DIR={str(missing)!r}: no such folder" in str(info.value)
    a_file = tmp_path / "Data_Cortex_Nuclear.csv"
    a_file.write_text("MouseID\n")
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(a_file))
    with pytest.raises(NotADirectoryError) as info:
        load()
    assert f"NNWIDGETS_DATA_DIR={str(a_file)!r} is a file, not a folder" in str(info.value)
    assert f"NNWIDGETS_DATA_DIR={tmp_path}" in str(info.value)  # its folder, as the fix


def test_a_data_dir_without_the_file_names_the_file_it_expects(tmp_path, monkeypatch):
    import urllib.error

    import sklearn.datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_network)
    monkeypatch.setenv("NNWIDGETS_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fmri_categories(source="local")
    assert f"NNWIDGETS_DATA_DIR ({tmp_path}) has no fmri_categories.npz" in str(info.value)
    with pytest.raises(ConnectionError) as info:
        datasets.load_mice_protein()
    assert f"NNWIDGETS_DATA_DIR ({tmp_path}) has no Data_Cortex_Nuclear.csv" in str(info.value)
