"""The lab's object store: ``up`` starts moto's S3 server (URL in the state), a second
``up`` keeps it, ``down`` stops it."""

from __future__ import annotations

import uuid

import pytest

from lab import hosts as hx
from tests.lab_support import can_run_lab, lab_session

pytestmark = pytest.mark.timeout(180)


@pytest.mark.skipif(can_run_lab() is not None, reason=str(can_run_lab()))
def test_up_starts_the_object_store_keeps_it_and_down_stops_it() -> None:
    import boto3

    from lab.build import up

    with lab_session(bureaus=1) as state:
        assert state.s3_endpoint.startswith("http://127.0.0.1:")
        assert hx.pid_alive(state.s3_pid)
        s3 = boto3.client("s3", endpoint_url=state.s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="lab", aws_secret_access_key="lab")
        bucket = f"lab-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"
        again = up(state.lab_dir, bureaus=1)
        assert (again.s3_endpoint, again.s3_pid) == (state.s3_endpoint, state.s3_pid)
        pid = state.s3_pid
    assert not hx.pid_alive(pid)


@pytest.mark.skipif(can_run_lab() is not None, reason=str(can_run_lab()))
def test_down_without_a_state_file_still_stops_the_object_store() -> None:
    import os
    import tempfile
    from pathlib import Path

    from lab.build import down, up
    from lab.state import STATE_FILE

    lab_dir = Path(tempfile.mkdtemp(prefix="shangyun-lab-s3-"))
    lab_dir.chmod(0o755)
    try:
        state = up(lab_dir, bureaus=1)
        pid = state.s3_pid
        assert hx.pid_alive(pid)
        os.unlink(lab_dir / STATE_FILE)  # the state is lost
    finally:
        down(lab_dir)
    assert not hx.pid_alive(pid)
