#include "server/inference/inference_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/eval/answer_quality.h"
#include "core/eval/metrics.h"
#include "core/model/decoder.h"
#include "core/serve/output_processor.h"
#include "core/task/task_kind.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"
#include "core/util/utf8.h"
#include "server/common/grpc_status.h"

namespace promptintern {
namespace {

// The metrics' mode label; "invalid" for a value outside the enum (the request is refused).
std::string ModeName(v1::PromptMode mode) {
  switch (mode) {
    case v1::PROMPT_MODE_QUERY_ONLY: return "query_only";
    case v1::PROMPT_MODE_FULL: return "full";
    case v1::PROMPT_MODE_COMPRESSED: return "compressed";
    default: return "invalid";
  }
}

PromptMode ToCore(v1::PromptMode mode) {
  switch (mode) {
    case v1::PROMPT_MODE_FULL: return PromptMode::kFull;
    case v1::PROMPT_MODE_COMPRESSED: return PromptMode::kCompressed;
    default: return PromptMode::kQueryOnly;
  }
}

grpc::Status Invalid(const std::string& message) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message); }

// The text fields are `bytes` on the wire (see inference.proto): UTF-8 is checked here.
absl::Status CheckTextFields(const v1::GenerateRequest& request) {
  RETURN_IF_ERROR(CheckUtf8(request.query(), "query"));
  RETURN_IF_ERROR(CheckUtf8(request.model(), "model"));
  for (int i = 0; i < request.stop_size(); ++i) RETURN_IF_ERROR(CheckUtf8(request.stop(i), absl::StrCat("stop[", i, "]")));
  return absl::OkStatus();
}

// gRPC marks a call cancelled when its deadline passes, and the client's own timer cancels the call
// as its deadline passes, which can reach us up to a transport latency before our copy of the
// deadline (it is the client's, shifted by the time the request took to arrive). So a call that
// ends cancelled this close to its deadline ran out of time rather than being abandoned.
constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(100);

grpc::Status ClassifyCancellation(const grpc::Status& status, absl::Time deadline) {
  if (status.error_code() != grpc::StatusCode::CANCELLED || absl::Now() + kDeadlineSlack < deadline) return status;
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the request's deadline passed");
}

int64_t AnswerTokens(const GenerationOutput& output) {
  return static_cast<int64_t>(output.token_ids.size()) + (output.outcome.finish_reason == FinishReason::kEos ? 1 : 0);
}

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(ModelHolder* holder, ModelHolder* reference, InferenceMetrics* metrics,
                                           InferenceLimits limits, const BearerTokenAuthenticator* authenticator)
    : holder_(holder),
      reference_(reference),
      metrics_(metrics),
      limits_(limits),
      authenticator_(authenticator),
      shadow_sampler_(limits.shadow_rate),
      shadow_runner_(std::make_unique<ShadowRunner>(
          limits.shadow_max_pending,
          [this](const ShadowJob& job, const absl::StatusOr<GenerationOutput>& reference) {
            // A shadow that could not run (the engine draining for shutdown) compared nothing.
            if (!reference.ok()) {
              metrics_->CountShadowDropped(job.model, job.version);
              return;
            }
            RecordShadow(job.model, job.version, job.task_metric, job.answer, *reference,
                         static_cast<int64_t>(job.request.prompt_ids.size()), /*extra_cost=*/true);
          })) {}

void InferenceServiceImpl::RecordShadow(const std::string& model, int64_t version, const TaskMetric* task_metric,
                                        const std::string& answer,
                                        const GenerationOutput& reference, int64_t reference_input_tokens,
                                        bool extra_cost) {
  ShadowRecord record;
  record.model = model;
  record.version = version;
  record.agreement = CompareAnswers(answer, reference.text, task_metric);
  if (extra_cost) {
    const Prices prices{limits_.input_price_per_million, limits_.output_price_per_million};
    record.cost_usd = CostUsd(prices, reference_input_tokens, AnswerTokens(reference)).value_or(0.0);
  }
  metrics_->RecordShadow(record);
}

grpc::Status InferenceServiceImpl::Run(grpc::ServerContext* context, const v1::GenerateRequest& request,
                                       const std::function<bool(const std::string&)>& on_text,
                                       v1::GenerateResponse* response) {
  std::shared_ptr<ServedModel> served = holder_->current();
  RequestRecord record;
  record.mode = ModeName(request.prompt_mode());
  const absl::Time deadline = absl::FromChrono(context->deadline());
  auto finish = [&](const grpc::Status& outcome) {
    const grpc::Status status = ClassifyCancellation(outcome, deadline);
    record.code = status.ok() ? "OK" : absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
    metrics_->RecordRequest(record);
    return status;
  };
  if (served == nullptr) return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no model is loaded yet"));
  record.model = served->name();
  record.version = served->version();
  if (!v1::PromptMode_IsValid(request.prompt_mode())) {
    return finish(Invalid(absl::StrCat("prompt_mode: ", request.prompt_mode(), " is not a PromptMode")));
  }
  if (absl::Status text = CheckTextFields(request); !text.ok()) return finish(ToGrpcStatus(text));
  absl::StatusOr<std::shared_ptr<const ServedTarget>> target = served->Target(request.model());
  if (!target.ok()) return finish(ToGrpcStatus(target.status()));
  record.model = (*target)->name();
  record.version = (*target)->version();
  // The task kind's own metric joins the shadow comparison (nullptr: unknown kind, or none).
  const TaskKind* task_kind = FindTaskKind((*target)->task().task.kind);
  const TaskMetric* task_metric = task_kind == nullptr ? nullptr : MetricOf(*task_kind);
  if (request.query().empty() || NormalizeWhitespace(request.query()).empty()) return finish(Invalid("query is empty"));
  if (request.query().size() > limits_.max_query_bytes) {
    return finish(Invalid(absl::StrCat("query: ", request.query().size(), " bytes exceed the limit of ",
                                       limits_.max_query_bytes)));
  }
  const int max_tokens = request.max_tokens() == 0 ? limits_.default_max_tokens : request.max_tokens();
  if (max_tokens < 1 || max_tokens > limits_.max_tokens) {
    return finish(Invalid(absl::StrCat("max_tokens: ", request.max_tokens(), " is outside [1, ", limits_.max_tokens, "]")));
  }
  const double min_confidence = request.has_min_confidence() ? request.min_confidence() : limits_.min_confidence;
  if (!(min_confidence >= 0 && min_confidence <= 1)) {
    return finish(Invalid(absl::StrCat("min_confidence: ", request.min_confidence(), " is outside [0, 1]")));
  }
  // The full prompt is the fallback; a request that sent it has nothing to fall back to.
  const bool may_fall_back = min_confidence > 0 && request.prompt_mode() != v1::PROMPT_MODE_FULL;
  EngineRequest work;
  work.max_new_tokens = max_tokens;
  work.sampling = {request.temperature(), request.top_k(), request.top_p() == 0 ? 1.0 : request.top_p(),
                   request.seed()};
  if (absl::Status valid = work.sampling.Validate(); !valid.ok()) return finish(ToGrpcStatus(valid));
  OutputOptions output;
  output.tokenizer = &served->tokenizer();
  for (const std::string& stop : request.stop()) {
    if (stop.empty()) return finish(Invalid("stop: empty stop string"));
  }
  output.stop_strings.assign(request.stop().begin(), request.stop().end());

  auto prompt = (*target)->RenderPromptIds(request.query(), ToCore(request.prompt_mode()));
  if (!prompt.ok()) return finish(ToGrpcStatus(prompt.status()));
  auto baseline = (*target)->RenderPromptIds(request.query(), PromptMode::kFull);
  if (!baseline.ok()) return finish(ToGrpcStatus(baseline.status()));
  const int64_t context_length = served->model().config().max_position_embeddings;
  if (static_cast<int64_t>(prompt->size()) + max_tokens > context_length) {
    return finish(Invalid(absl::StrCat("query: the ", record.mode, " prompt (", prompt->size(), " tokens) plus max_tokens ",
                                       max_tokens, " exceeds the model's context of ", context_length)));
  }
  work.prompt_ids = *prompt;
  work.adapter = (*target)->adapter();
  work.deadline = deadline;
  work.cancelled = [context] { return context->IsCancelled(); };
  // The reference path (a confidence fallback, a shadow): the full prompt, same sampling and budget,
  // on the served model or on the configured reference version (null while that is not loaded).
  std::shared_ptr<ServedModel> reference = reference_ == nullptr ? served : reference_->current();
  EngineRequest fallback_template = work;
  OutputOptions reference_output = output;
  if (reference != nullptr && reference != served) {
    auto reference_ids = reference->tokenizer().EncodePrompt((*target)->RenderPrompt(request.query(), PromptMode::kFull));
    if (reference_ids.ok()) {
      fallback_template.prompt_ids = *std::move(reference_ids);
      fallback_template.adapter = nullptr;
      reference_output.tokenizer = &reference->tokenizer();
    } else {
      reference = nullptr;  // a prompt the reference cannot encode: the live answer stands
    }
  } else {
    fallback_template.prompt_ids = *baseline;
  }
  fallback_template.cancelled = nullptr;
  fallback_template.deadline = absl::InfiniteFuture();
  EngineRequest fallback_work = fallback_template;
  fallback_work.deadline = deadline;
  fallback_work.cancelled = work.cancelled;
  const int64_t reference_input_tokens = static_cast<int64_t>(fallback_template.prompt_ids.size());
  // A full prompt that does not fit the reference's context with max_tokens cannot answer.
  const bool reference_fits = reference != nullptr &&
                              reference_input_tokens + max_tokens <= reference->model().config().max_position_embeddings;
  // With a fallback possible, nothing is streamed before the answer is chosen: the client gets the
  // chosen answer's text in one piece.
  if (on_text && !may_fall_back) {
    // The engine never waits for this client: if it stops reading, its tokens pile up here and,
    // past the limit, the request is ended and the RPC cancelled so a blocked Write returns.
    work.max_buffered_tokens = limits_.stream_buffer_tokens;
    work.on_abandoned = [context] { context->TryCancel(); };
    output.on_text = on_text;
  }
  absl::StatusOr<GenerationOutput> result = ::promptintern::Generate(served->engine(), std::move(work), output);
  if (!result.ok()) return finish(ToGrpcStatus(result.status()));
  const EngineOutcome& outcome = result->outcome;
  // The answer's tokens and the EOS that ended it, not those a stop string cut off.
  const size_t answered = std::min(outcome.token_logprobs.size(),
                                   result->token_ids.size() + (outcome.finish_reason == FinishReason::kEos ? 1 : 0));
  const AnswerConfidence confidence = ConfidenceOf(
      std::vector<float>(outcome.token_logprobs.begin(), outcome.token_logprobs.begin() + answered));
  std::optional<GenerationOutput> fallback;
  // Without a reference that can answer (not loaded, or the full prompt does not fit its context
  // with max_tokens), the first answer stands.
  if (may_fall_back && confidence.score < min_confidence && reference_fits) {
    absl::StatusOr<GenerationOutput> again =
        ::promptintern::Generate(reference->engine(), std::move(fallback_work), reference_output);
    if (!again.ok()) return finish(ToGrpcStatus(again.status()));
    fallback = *std::move(again);
  }
  const GenerationOutput& answer = fallback ? *fallback : *result;
  const bool shadowed = request.prompt_mode() != v1::PROMPT_MODE_FULL &&
                        (request.has_shadow() ? request.shadow() : shadow_sampler_.Next());
  if (shadowed && fallback) {
    // The fallback already answered with the full prompt: compared at no extra cost.
    RecordShadow(record.model, record.version, task_metric, result->text, *fallback, reference_input_tokens,
                 /*extra_cost=*/false);
  } else if (shadowed && !reference_fits) {
    metrics_->CountShadowDropped(record.model, record.version);
  } else if (shadowed) {
    ShadowJob job;
    job.keep_alive = reference;
    job.engine = &reference->engine();
    job.request = fallback_template;
    job.output = reference_output;
    job.answer = result->text;
    job.model = record.model;
    job.version = record.version;
    job.task_metric = task_metric;
    if (!shadow_runner_->Offer(std::move(job))) metrics_->CountShadowDropped(record.model, record.version);
  }
  if (on_text && may_fall_back && !answer.text.empty() && !on_text(answer.text)) {
    return finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
  }

  const Prices prices{limits_.input_price_per_million, limits_.output_price_per_million};
  record.input_tokens = static_cast<int64_t>(prompt->size());
  record.output_tokens = AnswerTokens(*result);
  record.cached_input_tokens = outcome.cached_prompt_tokens;
  record.preemptions = outcome.preemptions;
  record.baseline_input_tokens = static_cast<int64_t>(baseline->size());
  record.cost_usd = CostUsd(prices, record.input_tokens, record.output_tokens).value_or(0.0);
  record.baseline_cost_usd = CostUsd(prices, record.baseline_input_tokens, record.output_tokens).value_or(0.0);
  record.total_seconds = outcome.total_seconds;
  record.first_token_seconds = outcome.first_token_seconds;
  record.queue_seconds = outcome.queue_seconds;
  record.inter_token_seconds = &outcome.inter_token_seconds;
  if (fallback) {
    record.fallback = true;
    record.fallback_input_tokens = reference_input_tokens;
    record.fallback_output_tokens = AnswerTokens(*fallback);
    record.fallback_cost_usd =
        CostUsd(prices, record.fallback_input_tokens, record.fallback_output_tokens).value_or(0.0);
    record.total_seconds += fallback->outcome.total_seconds;
  }

  response->set_text(answer.text);
  response->set_finish_reason(std::string(FinishReasonName(answer.outcome.finish_reason)));
  v1::Usage* usage = response->mutable_usage();
  usage->set_input_tokens(record.input_tokens);
  usage->set_output_tokens(record.output_tokens);
  usage->set_baseline_input_tokens(record.baseline_input_tokens);
  usage->set_saved_input_tokens(record.baseline_input_tokens - record.input_tokens);
  usage->set_cost_usd(record.cost_usd);
  usage->set_baseline_cost_usd(record.baseline_cost_usd);
  usage->set_fallback_input_tokens(record.fallback_input_tokens);
  usage->set_fallback_output_tokens(record.fallback_output_tokens);
  usage->set_fallback_cost_usd(record.fallback_cost_usd);
  usage->set_net_saved_input_tokens(record.net_saved_input_tokens());
  usage->set_net_saved_cost_usd(record.net_saved_cost_usd());
  v1::Confidence* reported = response->mutable_confidence();
  reported->set_mean_logprob(confidence.mean_logprob);
  reported->set_min_logprob(confidence.min_logprob);
  reported->set_score(confidence.score);
  response->set_answered_by(fallback ? "reference" : "model");
  response->set_model(record.model);
  response->set_model_version(record.version);
  v1::Timings* timings = response->mutable_timings();
  timings->set_queue_seconds(outcome.queue_seconds);
  timings->set_prefill_seconds(outcome.prefill_seconds);
  timings->set_first_token_seconds(outcome.first_token_seconds);
  timings->set_total_seconds(record.total_seconds);
  return finish(grpc::Status::OK);
}

grpc::Status InferenceServiceImpl::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                            v1::GenerateResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  return Run(context, *request, nullptr, response);
}

grpc::Status InferenceServiceImpl::GenerateStream(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                                  grpc::ServerWriter<v1::GenerateResponse>* writer) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  v1::GenerateResponse final_message;
  // Chunks are written from this handler thread as the output path hands them over; the engine
  // thread never touches the writer.
  const grpc::Status status = Run(
      context, *request,
      [writer](const std::string& delta) {
        v1::GenerateResponse chunk;
        chunk.set_text(delta);
        return writer->Write(chunk);
      },
      &final_message);
  if (!status.ok()) return status;
  final_message.clear_text();
  writer->Write(final_message);
  return grpc::Status::OK;
}

void InferenceServiceImpl::Describe(ServedModel& served, const ServedTarget& target, v1::ModelInfo* info) const {
  info->set_name(target.name());
  info->set_version(target.version());
  info->set_base_model(served.base_model());
  info->set_parameters(served.model().config().NumParameters());
  info->set_context_length(served.model().config().max_position_embeddings);
  info->set_template_tokens(target.template_tokens());
  info->set_full_prompt_examples(target.task().full_prompt_examples);
  if (target.adapter() != nullptr) {
    info->set_reference(target.name());
    info->set_adapter_of(served.name());
    info->set_adapter_of_version(served.version());
  } else {
    info->set_reference(holder_->reference());
  }
}

grpc::Status InferenceServiceImpl::GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                                            v1::ModelInfo* info) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  std::shared_ptr<ServedModel> served = holder_->current();
  if (served == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no model is loaded yet");
  absl::StatusOr<std::shared_ptr<const ServedTarget>> target = served->Target(request->model());
  if (!target.ok()) return ToGrpcStatus(target.status());
  Describe(*served, **target, info);
  return grpc::Status::OK;
}

grpc::Status InferenceServiceImpl::ListModels(grpc::ServerContext* context, const v1::ListServedModelsRequest*,
                                              v1::ListServedModelsResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  std::shared_ptr<ServedModel> served = holder_->current();
  if (served == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no model is loaded yet");
  Describe(*served, *served->base(), response->add_models());
  for (const auto& adapter : served->LoadedAdapters()) Describe(*served, *adapter, response->add_models());
  return grpc::Status::OK;
}

}  // namespace promptintern
