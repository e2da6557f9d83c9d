"""Campaign manager: decides what to launch and when."""
