"""Clients of our own doors: `voicechat say` (stream a WAV file) and `voicechat assistant` (mic, speaker)."""
