"""The studio's page: one module per tab, built from nst_core's settings declarations.

* :mod:`.state`: what the app owns for its lifetime (the budget, the result store, the compiled network).
* :mod:`.form`: widgets, client-API parameters and settings made from a settings dataclass's declarations.
* :mod:`.endpoint`: one way to offer a job: its validator, its GPU lease, its readable errors, its API entry.
* :mod:`.image_tab`, :mod:`.fast_tab` (with :mod:`.live` and :mod:`.video`), :mod:`.audio_tab`: the tabs.
* :mod:`.models`: the Models panel (which networks are verified, downloading or unavailable).
* :mod:`.figures`: spectrograms, loss curves, thumbnails; :mod:`.serving`: cancellable jobs, fair queues.
"""
