"""`qbutler doctor`: checks a site's setup end to end and says what to fix."""
