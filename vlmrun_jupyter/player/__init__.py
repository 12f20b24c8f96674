"""Live media players (anywidget): the video player and the playable copy it may need."""
