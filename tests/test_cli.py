import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import cli, one_error_line

TRAIN = ["--epochs", "2", "--decoder-epochs", "1", "--latent", "4", "--batch-size", "32", "-q"]




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    ae = folder / "ae.safetensors"
    result = cli("train-ae", "builtin:digits", "--normal", "3", "--out", ae, "--json", *TRAIN)
    assert result.exit_code == 0, result.output
    return folder, ae, json.loads(result.stdout)


def test_help_lists_subcommands_and_each_has_help():
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("embed", "train-ae", "features", "fit-nce", "score", "evaluate", "demo"):
        assert name in result.output
        sub = cli(name, "--help")
        assert sub.exit_code == 0 and "Example" in sub.output
    assert cli("--version").output.startswith("cance ")


def test_help_keeps_brackets_and_shows_switches_plainly():
    """Rich markup never swallows a help text's [z, e, d]; an on/off switch reads --json, not --json <bool>."""
    for name in ("fit", "fit-nce", "predict", "explain", "embed", "score", "evaluate", "demo", "bench"):
        text = cli(name, "--help").output
        assert "<bool>" not in text and "()" not in text, name
    assert "[z, e, d]" in cli("fit", "--help").output


def test_library_messages_name_parameters_and_the_cli_names_its_options(tmp_path):
    """A Python caller reads the parameter's name; a command's user reads the option they typed."""
    from cance_cli.data import load_data
    from cance_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="`split` must be one of"):
        load_data("builtin:digits", "bogus")
    with pytest.raises(ConfigError, match="`split_seed` must be an integer"):
        load_data("builtin:digits", "train", split_seed=-1)
    for command in ("train-ae", "fit"):
        result = cli(command, "builtin:digits", "--split", "bogus", "--out", tmp_path / command)
        assert result.exit_code == 2
        assert one_error_line(result).startswith("Error: --split must be one of"), result.output
    result = cli("train-ae", "builtin:digits", "--split-seed", "-1", "--split", "train", "--out", tmp_path / "a")
    assert "--split-seed must be an integer" in one_error_line(result) and "`" not in one_error_line(result)
    # Warnings too: labelled rows without --normal.
    result = cli("fit", "builtin:digits", "--out", tmp_path / "m", "--epochs", "1", "--decoder-epochs", "1",
                 "--nce-epochs", "1", "--threshold-folds", "0", "-q")
    assert result.exit_code == 0 and "no --normal was given" in result.output, result.output


def test_train_ae_json_summary(trained):
    _, ae, summary = trained
    assert ae.exists()
    assert set(summary) >= {"stage1", "stage2", "latent_condition_number", "latent_max_abs_corr"}


def test_features_table_schema_and_provenance(trained):
    folder, ae, _ = trained
    out = folder / "test.parquet"
    result = cli("features", "builtin:digits", "--split", "test", "--ae", ae, "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == ["id", "label", "is_anomaly", "z_0", "z_1", "z_2", "z_3",
                                  "recon_error", "cos_dissim"]
    df = table.to_pydict()
    assert all((lbl != 3) == bool(a) for lbl, a in zip(df["label"], df["is_anomaly"]))
    meta = json.loads(table.schema.metadata[b"cance"])
    assert meta["stage"] == "features" and meta["split"] == "test" and meta["normal_classes"] == ["3"]
    assert len(meta["checkpoint_sha256"]) == 64 and meta["versions"]["cance"]


def test_features_of_table_source_round_trip(tmp_path, blobs_npz):
    ae = tmp_path / "t.safetensors"
    assert cli("train-ae", blobs_npz, "--normal", "0", "--out", ae, *TRAIN).exit_code == 0
    result = cli("features", blobs_npz, "--ae", ae, "--out", tmp_path / "f.parquet", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(tmp_path / "f.parquet")
    assert t.num_rows == 180 and int(np.sum(t.column("is_anomaly"))) == 30


def test_bad_inputs_give_one_sentence_and_exit_2(tmp_path, trained, tiny_images_npz):
    folder, ae, _ = trained
    (tmp_path / "plain.safetensors").write_bytes(b"not safetensors at all")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    (tmp_path / "nan.csv").write_text("a,b,y\n1,2,0\nnan,3,0\n")
    (tmp_path / "ok.csv").write_text("a,b,y\n1,2,0\n3,3,1\n")
    cases = [
        (("train-ae", tmp_path / "nowhere"), "does not exist"),
        (("train-ae", tmp_path / "nan.csv", "--label-col", "y"), "NaN"),
        (("train-ae", tmp_path / "ok.csv", "--label-col", "cls"), "no label column 'cls'"),
        (("train-ae", "builtin:digits", "--normal", "12"), "have label 12"),
        (("train-ae", "builtin:digits", "--lam", "-1"), "--lam"),
        (("train-ae", "builtin:digits", "--val-fraction", "1.5"), "--val-fraction"),
        (("features", "builtin:digits", "--ae", tmp_path / "missing.safetensors"), "does not exist"),
        (("features", "builtin:digits", "--ae", tmp_path / "plain.safetensors"), "not a readable safetensors"),
        (("features", "builtin:digits", "--ae", tmp_path / "other.safetensors"), "not a cance checkpoint"),
        (("features", tiny_images_npz, "--ae", ae, "--out", tmp_path / "x.parquet"), "shape"),
        (("features", "builtin:digits", "--ae", ae, "--out", tmp_path / "no" / "x.parquet"), "does not exist"),
    ]
    for args, fragment in cases:
        line = one_error_line(cli(*args, *(TRAIN if args[0] == "train-ae" else [])))
        assert fragment in line, (args, line)


def test_failed_run_leaves_existing_output_untouched(tmp_path, trained, tiny_images_npz):
    _, ae, _ = trained
    out = tmp_path / "feats.parquet"
    out.write_bytes(b"precious")
    one_error_line(cli("features", tiny_images_npz, "--ae", ae, "--out", out))
    assert out.read_bytes() == b"precious"
    assert not list(tmp_path.glob(".feats.parquet.*"))  # no temp file left behind
