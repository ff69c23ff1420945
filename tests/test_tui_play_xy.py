"""The XY pad on the Play screen, on real parts: a latent generation with a terrain exported
beside it, the real play process (a file stands in for the performer), Textual's pilot
clicking, dragging and pressing keys on the pad, then a second play replaying the walk."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from rehearsal.training import synthetic
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from tests.support.playmodels import make_generation
from tests.support.tui import keys, open_play_screen, screen_text, wait_for


def _walk(db, play_id: int) -> list[tuple[int, float, float, float]]:
    from rehearsal.store.plays import recorded_walk

    row = db.execute("SELECT input_take_id FROM plays WHERE id = ?", [play_id]).fetchone()
    return recorded_walk(db, row[0])[1]


def _rests(latents: list[list[float]], targets: list[list[float]]) -> list[int]:
    """Which targets' latents the pad held, in the order it held them (each once)."""
    out = []
    for z in latents:
        hit = [i for i, t in enumerate(targets) if np.allclose(z, t, rtol=1e-3, atol=1e-4)]
        if hit and (not out or out[-1] != hit[0]):
            out.append(hit[0])
    return out


async def test_the_xy_pad_by_mouse_and_keys_is_recorded_and_a_replay_walks_it_again(workspace, tmp_path):
    import torch

    from rehearsal.play.room import PlayEvent
    from rehearsal.store import open_db
    from rehearsal.training.terrain import export_terrain, fit_terrain, load_terrain, terrain_path

    db = open_db(workspace.db_path)
    gen = make_generation(workspace, db, "latent", seed=2, steps=0)      # untrained: the pad is what is tested
    rng = np.random.default_rng(4)
    points = rng.uniform(-1, 1, (6, 2))
    terrain = load_terrain(export_terrain(fit_terrain(points, [rng.normal(size=(12, 7)) for _ in range(6)],
                                                      steps=20).terrain, terrain_path(workspace, gen)))
    voice = tmp_path / "voice.wav"
    sf.write(voice, synthetic.voice(3.0, seed=4), 48000, subtype="FLOAT")

    def latent_at(u, v):
        lo, span = terrain.lo, terrain.span
        with torch.no_grad():
            return terrain(torch.tensor([[lo[0] + u * span[0], lo[1] + v * span[1]]]), 0.0, 0)[0].tolist()

    latents: dict[int, list[list[float]]] = {}

    def listen(play_no):
        def on(ev):
            if isinstance(ev, PlayEvent) and ev.kind == "latent-applied" and ev.detail:
                latents.setdefault(play_no, []).append([float(v) for v in ev.detail.split()])
        return on

    options = TuiOptions(input_file=str(voice), play_output="none", osc_port=None, midi=(), midi_virtual=False,
                         session="xy pilot", open_input=False)
    app = RehearsalApp(workspace, options)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            view = await open_play_screen(pilot, app)
            await keys(pilot, "p")
            await wait_for(pilot, lambda: view.playing and view.heard() == gen["name"] and view.pad is not None,
                           "the generation heard and its terrain on the pad", timeout=30)
            view.room.listen(listen(1))

            async def hold(seconds: float = 0.5) -> None:
                """Rest where the pad is for `seconds` of the take's audio: the replay, a thread polling
                the audio clock beside a busy test process, may send a target up to ~0.4 s off its
                step, and each rest must outlast that for the latent path to hold every target."""
                frames = view.last.take_frames
                await wait_for(pilot, lambda: view.last.take_frames >= frames + int(seconds * 48000),
                               f"{seconds} s of the take to pass")
            pad = view.query_one("#play-xy")
            w, h = pad.size.width, pad.size.height
            assert w >= 10 and h >= 5
            drawn = screen_text(view)
            assert drawn.count("·") >= 3, drawn                      # the terrain's clips on the pad
            # a click glides there (top left: x 0, y 1 of the map)
            await pilot.click("#play-xy", offset=(0, 0))
            await wait_for(pilot, lambda: view.pad and view.pad["target"] == (0.0, 1.0)
                           and view.pad["current"] == (0.0, 1.0), "the click's glide to arrive")
            assert "@" in screen_text(view) and "0.00,1.00" in screen_text(view)
            await hold()
            # keys step it, with the same glide
            await keys(pilot, "shift+right")
            await wait_for(pilot, lambda: view.pad["target"] == (0.05, 1.0) and view.pad["current"] == (0.05, 1.0),
                           "the key's glide to arrive")
            await hold()
            # a drag follows the mouse: pressed at the bottom right, moved to the bottom middle
            await pilot.mouse_down("#play-xy", offset=(w - 1, h - 1))
            await wait_for(pilot, lambda: view.pad["target"] == (1.0, 0.0) and view.pad["current"] == (1.0, 0.0),
                           "the press's glide to arrive")
            await hold()
            await pilot.hover("#play-xy", offset=(w // 2, h - 1))
            middle = round((w // 2) / (w - 1), 3)
            await wait_for(pilot, lambda: view.pad["target"] == (middle, 0.0), "the drag")
            await pilot.mouse_up("#play-xy", offset=(w // 2, h - 1))
            await wait_for(pilot, lambda: view.pad["current"] == (middle, 0.0), "the drag's glide to arrive")
            first = view.room.play
            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the play to stop")

            # the walk was recorded with the take, each target with its glide, where OSC's go
            walk = _walk(db, first["id"])
            assert [w_[1:] for w_ in walk] == [(0.0, 1.0, 0.15), (0.05, 1.0, 0.15), (1.0, 0.0, 0.15),
                                               (middle, 0.0, 0.05)]
            targets = [latent_at(x, y) for _, x, y, _ in walk]
            assert _rests(latents[1], targets) == [0, 1, 2, 3]

            # play again; ctrl+w walks the last play's walk at the same frames of the new take
            await keys(pilot, "p")
            await wait_for(pilot, lambda: view.playing and view.heard() == gen["name"], "the second play", timeout=30)
            view.room.listen(listen(2))
            second = view.room.play
            await keys(pilot, "ctrl+w")
            await wait_for(pilot, lambda: len(list(db.query("SELECT id FROM play_events WHERE play_id = ? AND "
                                                            "kind = 'xy'", [second["id"]]))) == 4
                           and view.pad["current"] == (middle, 0.0), "the replay to walk to its end", timeout=30)
            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the second play to stop")
        finally:
            await app.shutdown()
    again = _walk(db, second["id"])
    assert [a[1:] for a in again] == [w_[1:] for w_ in walk]
    # at the same times of the take: each target no earlier, the steps between them kept.
    # Within 0.5 s: the replay is a thread of this (busy, Textual) process polling the audio
    # clock, and one step came 0.42 s late beside a second test process; sending targets ahead
    # for the engine to apply at their frame would make it exact (not done yet, docs/play.md)
    assert all(a[0] >= w_[0] for a, w_ in zip(again, walk))
    steps, steps_again = np.diff([w_[0] for w_ in walk]), np.diff([a[0] for a in again])
    assert np.all(np.abs(steps_again - steps) < 24_000), (steps, steps_again)
    # and the latent path again: the same latents held, in the same order
    assert _rests(latents[2], targets) == [0, 1, 2, 3]
    db.conn.close()


def test_play_replay_xy_names_a_take_without_a_walk_before_any_audio_opens(workspace, tmp_path):
    from click.testing import CliRunner

    from rehearsal.cli import main
    from rehearsal.store import open_db

    db = open_db(workspace.db_path)
    db.conn.close()
    voice = tmp_path / "voice.wav"
    sf.write(voice, np.zeros(4800, np.float32), 48000)
    result = CliRunner().invoke(main, ["--home", str(workspace.home), "play", "--model", "none", "--input-file",
                                       str(voice), "--output-device", "none", "--replay-xy", "999"])
    assert result.exit_code != 0 and "take 999 is not a take of a play" in result.output, result.output
