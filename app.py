"""Start the camdemo web app: ``python app.py`` (add ``--host 0.0.0.0 --port 7860`` to serve a network)."""

import argparse
import logging
import os

from camdemo.app.ui import build_demo, launch_options, with_queue

demo = build_demo()

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="camdemo: explain image classifiers with heatmaps")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860)")
    parser.add_argument("--precision", choices=["float32", "half"], default=None,
                        help="half: on a GPU, CAM-family methods run the network in float16 (default float32)")
    args = parser.parse_args()
    if args.precision:
        os.environ["CAMDEMO_PRECISION"] = args.precision  # read by camdemo.explain
    logging.basicConfig(level=logging.INFO)
    with_queue(demo).launch(server_name=args.host, server_port=args.port, **launch_options())
