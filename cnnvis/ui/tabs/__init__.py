"""The page's tabs: one module per tab or family of tabs, each with a function
``<name>_tab(page)`` that builds its tab(s) and publishes their endpoints.

- :mod:`.classic`: Filters, Feature maps, Guided backprop, Guided Grad-CAM;
- :mod:`.methods`: Heatmaps and Attributions, every registry method without a tab of its own;
- :mod:`.dreams`: Deep Dream and Feature visualisation;
- :mod:`.checks`: Compare (deletion & insertion, the sanity check, the pointing game).

``cnnvis.ui.app.TABS`` lists them in the page's order.
"""
