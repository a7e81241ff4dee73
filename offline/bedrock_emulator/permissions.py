"""What each emulated operation asks IAM, from its parsed input and the emulator's state (see
``authorization`` for the sources). Call with the store's lock held."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from customizer.families.base import PROFILE_GEOGRAPHIES
from offline.bedrock_emulator.authorization import (
    BEDROCK_SERVICE,
    CUSTOM_MODEL_CONTEXT_KEY,
    INVOKE_KEY_ACTIONS,
    MODEL_KEY_ACTIONS,
    Authorizer,
    Check,
    key_arn,
    pass_role,
    request_tags,
    tag_context,
)
from offline.bedrock_emulator.errors import ServiceError
from offline.bedrock_emulator.store import Store

Params = Mapping[str, Any]
_PROFILE_PREFIXES = {geography for _, geography in PROFILE_GEOGRAPHIES}


class Permissions:
    def __init__(self, store: Store, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer
        self._by_operation: dict[str, Callable[[Params], list[Check]]] = {
            "GetFoundationModel": lambda p: [self._on("GetFoundationModel", self._foundation(p["modelIdentifier"]))],
            "CreateModelCustomizationJob": self._create_job,
            "GetModelCustomizationJob": lambda p: self._on_job("GetModelCustomizationJob", p["jobIdentifier"]),
            "StopModelCustomizationJob": lambda p: self._on_job("StopModelCustomizationJob", p["jobIdentifier"]),
            "GetCustomModel": lambda p: self._on_model("GetCustomModel", p["modelIdentifier"]),
            "DeleteCustomModel": lambda p: self._on_model("DeleteCustomModel", p["modelIdentifier"]),
            "CreateProvisionedModelThroughput": self._create_throughput,
            "GetProvisionedModelThroughput": lambda p: self._on_throughput("Get", p["provisionedModelId"]),
            "DeleteProvisionedModelThroughput": lambda p: self._on_throughput("Delete", p["provisionedModelId"]),
            "CreateCustomModelDeployment": self._create_deployment,
            "GetCustomModelDeployment": lambda p: self._on_deployment("Get", p["customModelDeploymentIdentifier"]),
            "DeleteCustomModelDeployment": lambda p: self._on_deployment(
                "Delete", p["customModelDeploymentIdentifier"]
            ),
            "CreateEvaluationJob": self._create_evaluation_job,
            "GetEvaluationJob": lambda p: [self._tagged("bedrock:GetEvaluationJob", p["jobIdentifier"])],
            "StopEvaluationJob": lambda p: [self._tagged("bedrock:StopEvaluationJob", p["jobIdentifier"])],
            "TagResource": lambda p: [
                self._tagged("bedrock:TagResource", p["resourceARN"], request_tags(p.get("tags")))
            ],
            "UntagResource": lambda p: [
                self._tagged("bedrock:UntagResource", p["resourceARN"], {"aws:TagKeys": sorted(p["tagKeys"])})
            ],
            "ListTagsForResource": lambda p: [self._tagged("bedrock:ListTagsForResource", p["resourceARN"])],
            "InvokeModel": lambda p: self._invoke(p["modelId"]),
            "Converse": lambda p: self._invoke(p["modelId"]),  # authorized as bedrock:InvokeModel (the reference)
        }

    def checks(self, operation: str, params: Params) -> list[Check]:
        if operation.startswith("List") and operation != "ListTagsForResource":
            return [Check(f"bedrock:{operation}", "*")]  # List actions have no resource type
        found = self._by_operation.get(operation)
        if found is None:
            raise ServiceError("InternalServerException", f"The emulator has no authorization rule for {operation}.")
        return found(params)

    # ---- helpers ----

    @staticmethod
    def _on(action: str, resource: str, context: Mapping[str, Any] | None = None) -> Check:
        return Check(f"bedrock:{action}", resource, dict(context or {}))

    def _foundation(self, identifier: str) -> str:
        return identifier if identifier.startswith("arn:") else self.store.foundation_model_arn(identifier)

    def _tags(self, arn: str) -> dict[str, str | list[str]]:
        return tag_context("aws:ResourceTag", self.store.resources.tags.get(arn, {}))

    def _tagged(self, action: str, arn: str, extra: Mapping[str, Any] | None = None) -> Check:
        return Check(action, arn, {**self._tags(arn), **(extra or {})})

    def _resolved(self, find: Callable[[str], Any], identifier: str) -> str | None:
        """The ARN a name or ARN refers to; None for a name that matches nothing (the operation says so)."""
        try:
            return str(find(identifier).arn)
        except ServiceError:
            return identifier if identifier.startswith("arn:") else None

    def _on_job(self, action: str, identifier: str) -> list[Check]:
        arn = self._resolved(self.store.job, identifier)
        return [self._tagged(f"bedrock:{action}", arn)] if arn else []

    def _on_model(self, action: str, identifier: str) -> list[Check]:
        arn = self._resolved(self.store.model, identifier)
        return [self._tagged(f"bedrock:{action}", arn)] if arn else []

    def _on_throughput(self, verb: str, identifier: str) -> list[Check]:
        arn = self._resolved(self.store.throughput, identifier)
        return [self._tagged(f"bedrock:{verb}ProvisionedModelThroughput", arn)] if arn else []

    def _on_deployment(self, verb: str, identifier: str) -> list[Check]:
        arn = self._resolved(self.store.deployment, identifier)
        return [self._tagged(f"bedrock:{verb}CustomModelDeployment", arn)] if arn else []

    def _key(self, key_id: str) -> str:
        return key_arn(key_id, self.store.settings.region, self.store.settings.account_id)

    # ---- creates ----

    def _create_job(self, p: Params) -> list[Check]:
        base = self._foundation(p["baseModelIdentifier"])
        base_id = base.rsplit("/", 1)[-1]
        tags = request_tags(p.get("jobTags"), p.get("customModelTags"))
        # The custom model the job makes: its ARN-to-be (a guess: the reference names custom-model, not which). A
        # job takes two ids when it is created, its own and its model's (ControlPlane.create_model_customization_job).
        model = self.store.arn(f"custom-model/{base_id}/{self.store.peek_ids(2)[1]}")
        checks = [
            Check("bedrock:CreateModelCustomizationJob", model, tags),
            Check("bedrock:CreateModelCustomizationJob", base, tags),
            pass_role(p["roleArn"]),
        ]
        if p.get("customModelKmsKeyId"):
            checks += self.authorizer.key_checks(self._key(p["customModelKmsKeyId"]), MODEL_KEY_ACTIONS, "bedrock")
        return checks

    def _create_throughput(self, p: Params) -> list[Check]:
        tags = request_tags(p.get("tags"))
        try:
            model = self.store.model(p["modelId"])
        except ServiceError:
            if p["modelId"].startswith("arn:") and ":foundation-model/" not in p["modelId"]:
                return []  # no such custom model: the operation says so
            return [Check("bedrock:CreateProvisionedModelThroughput", self._foundation(p["modelId"]), tags)]
        checks = [
            Check("bedrock:CreateProvisionedModelThroughput", model.arn, {**self._tags(model.arn), **tags}),
            Check("bedrock:CreateProvisionedModelThroughput", model.job.base_model_arn, tags),
        ]
        key = model.job.kms_key_arn
        if key:
            checks += self.authorizer.key_checks(key, ["kms:Decrypt"], "bedrock")
            if model.base_model.model_id.startswith("amazon.nova"):
                # Bedrock optimizes a Nova model for serving with the model's own key, as itself.
                # (iam-simulate 0.1.173 drops kms:EncryptionContext:<key> context keys, so only the keys' names.)
                context = {"kms:EncryptionContextKeys": [CUSTOM_MODEL_CONTEXT_KEY]}
                checks += [
                    Check(a, key, context, key=key, service_principal=True)
                    for a in ("kms:Decrypt", "kms:GenerateDataKey")
                ]
        return checks

    def _create_deployment(self, p: Params) -> list[Check]:
        arn = self._resolved(self.store.model, p["modelArn"])
        if arn is None:
            return []
        return [Check("bedrock:CreateCustomModelDeployment", arn, {**self._tags(arn), **request_tags(p.get("tags"))})]

    def _create_evaluation_job(self, p: Params) -> list[Check]:
        tags = request_tags(p.get("jobTags"))
        models: list[str] = []
        automated = (p.get("evaluationConfig") or {}).get("automated") or {}
        for evaluator in (automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels") or []:
            models.append(str(evaluator["modelIdentifier"]))
        for model in (p.get("inferenceConfig") or {}).get("models") or []:
            if "bedrockModel" in model:
                models.append(str(model["bedrockModel"]["modelIdentifier"]))
        checks = [Check("bedrock:CreateEvaluationJob", self._evaluated_model(m), tags) for m in models]
        return [*checks, pass_role(p["roleArn"])]

    def _evaluated_model(self, identifier: str) -> str:
        if identifier.startswith("arn:"):
            return identifier
        return self.store.foundation_model_arn(
            identifier.split(".", 1)[1] if self._is_profile(identifier) else identifier
        )

    @staticmethod
    def _is_profile(model_id: str) -> bool:
        geography, _, rest = model_id.partition(".")
        return geography in _PROFILE_PREFIXES and bool(rest)

    # ---- runtime ----

    def _invoke(self, model_id: str) -> list[Check]:
        if not model_id.startswith("arn:"):
            if self._is_profile(model_id):
                return self._through_profile(self.store.arn(f"inference-profile/{model_id}"), model_id)
            return [Check("bedrock:InvokeModel", self.store.foundation_model_arn(model_id))]
        kind = model_id.split(":", 5)[-1].partition("/")[0]
        if kind == "inference-profile":
            return self._through_profile(model_id, model_id.rsplit("/", 1)[-1])
        checks = [Check("bedrock:InvokeModel", model_id, self._tags(model_id))]
        key = self._model_key(model_id, kind)
        if key:
            checks += self.authorizer.key_checks(key, INVOKE_KEY_ACTIONS, "bedrock")
        return checks

    def _through_profile(self, profile_arn: str, profile_id: str) -> list[Check]:
        """A cross-region profile: the profile, then the base model it routes to (here: in this region), with
        bedrock:InferenceProfileArn (the user guide, "Prerequisites for inference profiles")."""
        base = self.store.foundation_model_arn(profile_id.split(".", 1)[1])
        return [
            Check("bedrock:InvokeModel", profile_arn),
            Check("bedrock:InvokeModel", base, {"bedrock:InferenceProfileArn": profile_arn}),
        ]

    def _model_key(self, arn: str, kind: str) -> str | None:
        """The customer key of the custom model behind a throughput or deployment (None: none, or not found)."""
        resources = self.store.resources
        if kind == "provisioned-model" and arn in resources.throughputs:
            model = resources.models.get(resources.throughputs[arn].model_arn)
            return model.job.kms_key_arn if model else None
        if kind == "custom-model-deployment" and arn in resources.deployments:
            return resources.deployments[arn].model.job.kms_key_arn
        return None


__all__ = ["BEDROCK_SERVICE", "Permissions"]
