"""Web pages of the hub: viewer, host console, leader screen, screener and login."""
