"""Legacy RPC endpoints (gumloop-api.md §2a): file uploads, start_agent and agent_status."""

import base64

import httpx

A = "/api/v1"
U = {"user_id": "emu_user_1"}


def _file(name: str, data: bytes = b"hello") -> dict[str, str]:
    return {"file_name": name, "file_content": base64.b64encode(data).decode()}


async def test_upload_file_answers_success_and_file_name(client: httpx.AsyncClient) -> None:
    """POST /upload_file: {success, file_name}."""
    r = await client.post(A + "/upload_file", json={**U, **_file("one.txt")})
    assert r.status_code == 200 and r.json() == {"success": True, "file_name": "one.txt"}


async def test_upload_files_all_some_and_none_succeed(client: httpx.AsyncClient) -> None:
    """200 {success, uploaded_files}; 207 {partial_success, uploaded_files, failed_files}; all fail: 500."""
    bad = {"file_name": "bad.bin", "file_content": "not base64!"}
    ok = await client.post(A + "/upload_files", json={**U, "files": [_file("a.txt"), _file("b.txt")]})
    assert ok.status_code == 200
    assert ok.json() == {"success": True, "uploaded_files": ["a.txt", "b.txt"]}
    mixed = await client.post(A + "/upload_files", json={**U, "files": [_file("c.txt"), bad]})
    assert mixed.status_code == 207
    assert mixed.json() == {"partial_success": True, "uploaded_files": ["c.txt"], "failed_files": ["bad.bin"]}
    none = await client.post(A + "/upload_files", json={**U, "files": [bad]})
    assert none.status_code == 500
    assert none.json()["error"]["details"] == {"failed_files": ["bad.bin"]}


async def test_upload_files_missing_parameters_are_400(client: httpx.AsyncClient) -> None:
    """No files, or an entry without file_name/file_content, is a bad request, not an upload failure."""
    for files in ([], [{"file_name": "x.txt"}], [{"file_content": "aGk="}], ["x"]):
        r = await client.post(A + "/upload_files", json={**U, "files": files})
        assert r.status_code == 400, files
