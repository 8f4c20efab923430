"""A compiled DAG run by ``dag.test()`` with its store and output in an S3 bucket, reached only through
``[dististage] store_conn_id`` (no ``AWS_*`` variable): exact rows, parts in the bucket, no secret in
the task logs."""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.runtime.folders import safe_folder_name
from tests.dag_runs import dag_test
from tests.object_store.conftest import ACCESS_KEY, CONN_ID, SECRET_KEY, S3Server, without_aws_variables

DAG_FILE = Path(__file__).parent / "dags" / "s3_pipeline.py"


def test_store_and_output_on_s3_through_a_connection(airflow_env: dict[str, str], s3_server: S3Server, tmp_path) -> None:
    from datasets import load_from_disk

    bucket = s3_server.bucket
    env = {
        **without_aws_variables(airflow_env),
        **s3_server.conn_env,
        "AIRFLOW__DISTISTAGE__STORE": f"s3://{bucket}/store",
        "AIRFLOW__DISTISTAGE__OUTPUT": f"s3://{bucket}/output",
        "AIRFLOW__DISTISTAGE__STORE_CONN_ID": CONN_ID,
    }
    run = dag_test(env, DAG_FILE, "s3_pipeline")
    assert run["mapped"] == {"square": 2}

    fs = s3_server.filesystem()
    run_folder = safe_folder_name(run["run_id"])
    parts = [path for path in fs.find(f"{bucket}/store/s3_pipeline/{run_folder}") if "/parts/" in path]
    assert len([path for path in parts if "/square/" in path]) == 3 and len(parts) == 6, parts

    output = f"{bucket}/output/s3_pipeline/{run_folder}"
    fs.get(f"{output}/", str(tmp_path), recursive=True)
    rows = load_from_disk(str(tmp_path / "default"))["train"].to_list()
    assert sorted(rows, key=lambda row: row["number"]) == [{"number": n, "square": n * n} for n in range(12)]

    logs = run["output"] + "".join(
        path.read_text(errors="replace") for path in Path(env["AIRFLOW_HOME"]).rglob("*.log")
    )
    assert f"saved to s3://{bucket}/output" in logs  # the task logs were captured
    assert SECRET_KEY not in logs and ACCESS_KEY not in logs
