"""Options shared by several commands."""

from __future__ import annotations

import click

input_size_option = click.option(
    "--input-size", metavar="H[xW]", default=None,
    help="Input height and width (e.g. 224 or 160x224); default: the architecture's own.")
num_classes_option = click.option(
    "--num-classes", type=click.IntRange(min=1), default=None,
    help="Replace the classifier head with one of N outputs (embedding size for siamese).")
weights_option = click.option(
    "--weights", metavar="FILE|imagenet", default=None,
    help="State_dict file, edgecnn checkpoint, or 'imagenet' for torchvision's published weights "
         "from the offline torch hub cache.")
force_option = click.option("--force", is_flag=True, help="Replace what the output path already holds.")
json_option = click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
                           help="Also write the result as JSON to this file.")
