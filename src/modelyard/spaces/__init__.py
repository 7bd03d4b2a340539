"""Spaces: run the demos of space repos (Gradio, Streamlit, static) in sandboxes, supervised (manager.py).

runtime.py (stages, SpaceRuntime), appconfig.py (the card's app settings), urls.py (the Spaces origin),
logs.py (build and run logs), build.py (environments with uv), sandbox.py + shim.py (isolated processes),
manager.py (the supervisor). HTTP lives in server/ (spaces_proxy.py, api/spaces.py, web/space_views.py).
"""
