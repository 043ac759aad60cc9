"""``micrographcleaner worker``: manifests named on stdin, one answer line each, the model loaded once."""
import json
import subprocess
import sys

from conftest import BOX


def manifest(tmp_path, name, micrograph, model_path):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({
        "output_dir": str(tmp_path / "out"), "box_size": BOX, "model": str(model_path), "threshold": 0.7,
        "gpus": "cpu", "micrographs": [{"id": 1, "path": str(micrograph), "key": name,
                                        "coordinates": {"id": [7], "x": [200.0], "y": [300.0]}}]}))
    return path


def test_worker_runs_manifest_after_manifest(disc_mrc, model_path, tmp_path):
    requests = [{"manifest": str(manifest(tmp_path, name, disc_mrc, model_path)),
                 "result": str(tmp_path / f"{name}.result.json")} for name in ("first", "second")]
    lines = [json.dumps(request) for request in requests] + ["not json", ""]
    worker = subprocess.run([sys.executable, "-m", "micrographcleaner", "worker"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr
    answers = [json.loads(line) for line in worker.stdout.splitlines()]
    assert [answer["status"] for answer in answers] == [0, 0, 2]
    assert answers[0]["error"] is None and answers[2]["error"].startswith("bad request 'not json'")
    assert "bad request 'not json'" in worker.stderr
    for request in requests:  # the same result files as 'micrographcleaner batch' writes
        result = json.loads(open(request["result"]).read())
        assert result["micrographs"][0]["coordinates"]["reason"] == ["low goodness"]
        assert result["micrographs"][0]["summary"]["iciness"] > 0  # 1.5 Å/px: the ice band is resolved


def test_worker_answers_a_broken_manifest_and_goes_on(disc_mrc, model_path, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    good = manifest(tmp_path, "good", disc_mrc, model_path)
    lines = [json.dumps({"manifest": str(path), "result": str(tmp_path / f"{path.stem}.result.json")})
             for path in (broken, good)]
    worker = subprocess.run([sys.executable, "-m", "micrographcleaner", "worker"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=300)
    answers = [json.loads(line) for line in worker.stdout.splitlines()]
    assert [answer["status"] for answer in answers] == [2, 0]
    assert answers[0]["error"] == f"{broken}: the manifest has no 'output_dir'" and answers[1]["error"] is None
    assert "the manifest has no 'output_dir'" in worker.stderr  # the run's log says it too


def test_a_manifest_of_another_version_is_refused(tmp_path, capsys):
    from micrographcleaner.cli import main
    from micrographcleaner.contract import EXIT_USAGE, MANIFEST_VERSION

    path = tmp_path / "future.json"
    path.write_text(json.dumps({"version": MANIFEST_VERSION + 1, "output_dir": str(tmp_path / "out"), "box_size": BOX,
                                "micrographs": []}))
    assert main(["batch", str(path), "--result", str(tmp_path / "result.json")]) == EXIT_USAGE
    assert f"manifest version {MANIFEST_VERSION + 1!r}, but this engine reads version" in capsys.readouterr().err
    assert not (tmp_path / "result.json").exists()
