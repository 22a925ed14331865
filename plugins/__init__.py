"""The built-in strategy plugins, registered through the plugin manager like any other plugin."""
