"""The admin dashboard at /ui/: server-rendered pages over the domain rooms, with a small live layer."""
