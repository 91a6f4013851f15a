"""SQLite with several processes writing at once (the API runs one per CPU):
no write is lost or fails, and every folder's positions stay dense, so paging
sees each file exactly once."""

from __future__ import annotations

import asyncio
import multiprocessing

from shared.storage import NewFile, open_storage


def _writer(url: str, user_id: str, parent_id: str, tag: str, count: int, go) -> None:
    async def main() -> None:
        storage = await open_storage(url)
        try:
            go.wait()
            for i in range(count):
                await storage.create_file(NewFile(user_id, f"{tag}-{i}", "folder", False, parent_id, None))
                if i % 10 == 9:  # a failed upload's compensation, racing the others' inserts
                    victim = await storage.create_file(NewFile(user_id, f"{tag}-undo-{i}", "folder", False,
                                                               parent_id, None))
                    await storage.delete_file(user_id, victim.id)
        finally:
            await storage.close()

    asyncio.run(main())


async def test_four_processes_writing_one_folder(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    storage = await open_storage(url)
    user = await storage.create_user("many@example.com", "x")
    folder = await storage.create_file(NewFile(user.id, "shared", "folder", False, 0, None))
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(url, user.id, folder.id, f"p{n}", 60, go)) for n in range(4)]
    for proc in procs:
        proc.start()
    go.set()
    await asyncio.gather(*(asyncio.to_thread(proc.join, 120) for proc in procs))
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]

    seen = []
    page = 0
    while batch := await storage.children(user.id, folder.id, page):
        seen += [f.name for f in batch]
        page += 1
    await storage.close()
    expected = {f"p{n}-{i}" for n in range(4) for i in range(60)}
    assert len(seen) == len(set(seen)) == 240  # each exactly once, no leftovers of the undone ones
    assert set(seen) == expected
    for n in range(4):  # each writer's files in the order it created them
        mine = [name for name in seen if name.startswith(f"p{n}-")]
        assert mine == [f"p{n}-{i}" for i in range(60)]
