"""An offline emulator of Amazon Bedrock's ``bedrock`` and ``bedrock-runtime`` APIs for this pipeline.

Unmodified boto3 and AWS CLI clients reach it through the standard endpoint settings
(``AWS_ENDPOINT_URL_BEDROCK``, ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``); it reads training data from and writes
job output to the S3 of the environment (moto). Family knowledge (formats, limits, bodies) comes from
``customizer.families``. See README.md beside this file."""

from offline.bedrock_emulator.admin_client import EmulatorAdmin
from offline.bedrock_emulator.clock import Clock
from offline.bedrock_emulator.config import Durations, EmulatorSettings
from offline.bedrock_emulator.emulator import BedrockEmulator
from offline.bedrock_emulator.errors import ServiceError
from offline.bedrock_emulator.server import EmulatorServer

__all__ = [
    "BedrockEmulator",
    "Clock",
    "Durations",
    "EmulatorAdmin",
    "EmulatorServer",
    "EmulatorSettings",
    "ServiceError",
]
