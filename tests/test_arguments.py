"""The shared key=value command line of predict, export, embed and pretrain-export."""

from __future__ import annotations

import io

import h5py
import pytest

from elmo_tasks.cli.arguments import ArgumentParser, Option, UsageError

PARSER = ArgumentParser(
    "tool",
    [
        Option("source", "what to read", positional=True),
        Option("count", "how many", default=3, type=int),
        Option("mode", "how", default="fast", choices=("fast", "exact")),
        Option("limit", "at most", default=None, type=float, nullable=True),
        Option("force", "replace", default=False, type=bool),
        Option("text_column", "column", default="text"),
    ],
)


def _run(argv):
    out, err, seen = io.StringIO(), io.StringIO(), []
    status = PARSER.run(argv, lambda values: seen.append(values) or 0, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue(), seen[0] if seen else None


def test_key_value_arguments_with_types_and_defaults():
    notes = []
    values = PARSER.parse(
        ["source=a.txt", "count=5", "+mode=exact", "limit=null", "force=true"], notes
    )
    assert values == {
        "source": "a.txt",
        "count": 5,
        "mode": "exact",
        "limit": None,
        "force": True,
        "text_column": "text",
    }
    assert notes == []
    assert PARSER.parse(["source=a", "limit=0.5"])["limit"] == 0.5


@pytest.mark.parametrize(
    "argv,message",
    [
        (["count=5"], "missing source=..."),
        (["source="], "missing source=..."),
        (["source=a", "cont=5"], "unknown argument 'cont'; did you mean count=5?"),
        (["source=a", "count=five"], "count must be a whole number, got 'five'"),
        (["source=a", "mode=slow"], "mode must be one of fast, exact, got 'slow'"),
        (["source=a", "force=yes"], "force must be true or false"),
        (["source=a", "source=b"], "source is given twice"),
        (["source=a", "stray"], "expected key=value, got 'stray'"),
        (["source=a", "--count"], "--count needs a value; write count=VALUE"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("?", r"\?")):
        PARSER.parse(argv)
    status, _, err, values = _run(argv)
    assert status == 2 and message in err and values is None


def test_old_spellings_work_with_a_deprecation_note():
    status, _, err, values = _run(
        ["old.txt", "--count", "7", "--mode=exact", "--text-column", "review"]
    )
    assert status == 0
    assert values["source"] == "old.txt" and values["count"] == 7 and values["mode"] == "exact"
    assert values["text_column"] == "review"
    assert "the positional argument 'old.txt' is the old spelling; write source=old.txt" in err
    assert "'--count 7' is the old spelling; write count=7" in err
    assert "'--text-column review' is the old spelling; write text_column=review" in err
    assert err.count("goes away in the next release") == 4


def test_help_and_cfg():
    status, out, _, values = _run(["--help"])
    assert status == 0 and values is None
    assert out.startswith("usage: tool source=... [count=3] [mode=fast] [limit=null] [force=false]")
    assert "  mode         how (default fast; one of fast, exact)" in out
    status, out, _, values = _run(["source=a", "--cfg", "job"])
    assert status == 0 and values is None and "source: a\ncount: 3\n" in out
    status, _, err, _ = _run([])
    assert status == 2 and "usage: tool" in err


def test_embed_takes_key_value_arguments(tiny_elmo_files, tmp_path, capsys):
    from elmo_tasks.cli.embed import main

    text = tmp_path / "sentences.txt"
    text.write_text("a small test\nanother one\n")
    out = tmp_path / "out.h5"
    assert (
        main(
            [
                f"options={tiny_elmo_files.options_file}",
                f"weights={tiny_elmo_files.weight_file}",
                f"input={text}",
                f"output={out}",
                "layers=top",
                "max_tokens=64",
            ]
        )
        == 0
    )
    with h5py.File(out) as handle:
        assert len(handle["sentence_ids"]) == 2
    assert "old spelling" not in capsys.readouterr().err
    assert (
        main(
            [
                f"options={tiny_elmo_files.options_file}",
                "weights=x",
                "input=y",
                "output=z",
                "layers=bottom",
            ]
        )
        == 2
    )


def test_pretrain_export_and_export_usage(capsys):
    from elmo_tasks.cli.export import main as export_main
    from elmo_tasks.cli.pretrain_export import main as pretrain_export_main

    assert pretrain_export_main(["checkpoint=nope.ckpt", "export_dir=out"]) == 1
    assert "checkpoint not found: nope.ckpt" in capsys.readouterr().err
    assert pretrain_export_main(["checkpoint=nope.ckpt", "exportdir=out"]) == 2
    assert "did you mean export_dir=out?" in capsys.readouterr().err
    assert export_main(["run_dir=r", "out=o", "overwrite=maybe"]) == 2
    assert "overwrite must be true or false" in capsys.readouterr().err


def test_help_into_a_closed_pipe_is_quiet():
    import io

    from elmo_tasks.cli.arguments import ArgumentParser, Option

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError

    parser = ArgumentParser("tool", [Option("x", "an option")])
    assert parser.run(["--help"], lambda values: 0, stdout=ClosedPipe()) == 0
