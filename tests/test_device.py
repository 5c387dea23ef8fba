import torch

from polab.claims import machine
from polab.device import describe
from polab.machine import cpu_model, cpu_name

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu avx2

processor\t: 1
model name\t: AMD EPYC 9B14
"""


def test_cpu_model_reads_the_first_model_name():
    assert cpu_model(CPUINFO) == "AMD EPYC 9B14"


def test_cpu_model_is_empty_without_one():
    assert cpu_model("processor\t: 0\nfeatures\t: fp asimd\n") == ""


def test_the_machine_of_a_speed_figure_names_its_cpu():
    """Speed claims from two boxes of the same core count differ by 20-40 % (issue 19): the
    machine line names the processor, so that a reader can tell them apart."""
    name = cpu_name()
    assert name
    assert name in describe(torch.device("cpu"))
    assert name in machine()
