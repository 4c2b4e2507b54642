"""Live video and call-in audio (WHIP/WHEP, HLS, recording): see issue 5. Not built yet."""
