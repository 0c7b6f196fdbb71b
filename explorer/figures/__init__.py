"""Figure builders: plain data (numpy arrays, dicts) in, a figure object out.

Every figure the UI shows is built here, so tests can call the builder and check
the figure without a browser. One module per area:

- ``common``: image grids and shared colours;
- ``latent``: latent scatters, decode grids, traversals (Home, Explore, Train);
- ``training``: live curves, rate-distortion plane, KL bars (Train; Altair, updates in place);
- ``beta``: the β lab's comparisons;
- ``theory``: the Theory page's checks;
- ``runs``: the Runs page's table, overlaid curves and PNG renderings;
- ``plane``: the latent-plane component's data (the app's pages and the notebook widget).
"""
