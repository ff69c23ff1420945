"""The rehearsal room in the terminal: a Textual app to record, tag, review and listen together.

    app.py          the App: modes from the screen registry, app-level keys, room events
    link.py         RoomLink: the Room, keys, MIDI and OSC, every blocking call on one thread
    store_link.py   StoreLink: reads and edits of the workspace database on one thread
    playback.py     play a moment through the output device (sounddevice, in a worker)
    screens/        one module per feature (record, review, sessions) + the registry + modals
    widgets/        meter, timeline, palette, tag log, status

Importing this package imports nothing heavy: textual only when the app module is imported,
sounddevice only in the playback worker, never torch.
"""
