"""`minisora serve`: a local server that speaks OpenAI's Videos API, plus a web page.

Code written against `client.videos` of the official `openai` SDK runs unchanged against a local
model (the bundled one, one you trained, or any pipeline with the same call):

    minisora serve --port 8000
    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    video = client.videos.create_and_poll(prompt="a red circle moving right", seconds="2", size="64x64")

Rooms: app.py (routes), schemas.py (request checking), store.py (the SQLite job queue), worker.py
(the process that generates), media.py (a job's files), spec.py (seconds and sizes <-> frames),
guard.py (bearer key and body limit), errors.py (OpenAI's error shape), static/ (the page).
"""
