"""The enrollment gallery: a folder of photos per person, turned into a matcher."""
