"""Media server backends behind one small interface (see base.MediaServer)."""
