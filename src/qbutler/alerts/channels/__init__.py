"""One module per alert channel, each implementing `base.Channel`."""
