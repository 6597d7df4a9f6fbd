// PyTorchJob (kubeflow.org/v1) as the Kubeflow training operator's API types declare it
// (pytorchjob_types.go and common_types.go). No npm package ships this CRD's schema, so the
// wrapper is declared here and the pod templates are checked against the Kubernetes types.
import { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import { IMetricSpec } from "kubernetes-models/autoscaling/v2/MetricSpec";
import { IPodTemplateSpec } from "kubernetes-models/v1/PodTemplateSpec";

export interface IReplicaSpec {
  replicas?: number;
  template?: IPodTemplateSpec;
  restartPolicy?: "Always" | "OnFailure" | "Never" | "ExitCode";
}

export interface ISchedulingPolicy {
  minAvailable?: number;
  queue?: string;
  minResources?: { [resource: string]: number | string };
  priorityClass?: string;
  scheduleTimeoutSeconds?: number;
}

export interface IRunPolicy {
  cleanPodPolicy?: "All" | "Running" | "None";
  ttlSecondsAfterFinished?: number;
  activeDeadlineSeconds?: number;
  backoffLimit?: number;
  schedulingPolicy?: ISchedulingPolicy;
  suspend?: boolean;
  managedBy?: string;
}

export interface IElasticPolicy {
  minReplicas?: number;
  maxReplicas?: number;
  rdzvBackend?: "c10d" | "etcd" | "etcd-v2";
  rdzvPort?: number;
  rdzvHost?: string;
  rdzvId?: string;
  rdzvConf?: Array<{ key?: string; value?: string }>;
  standalone?: boolean;
  nProcPerNode?: number;
  maxRestarts?: number;
  metrics?: Array<IMetricSpec>;
}

export interface IPyTorchJob {
  apiVersion: "kubeflow.org/v1";
  kind: "PyTorchJob";
  metadata?: IObjectMeta;
  spec: {
    runPolicy?: IRunPolicy;
    elasticPolicy?: IElasticPolicy;
    pytorchReplicaSpecs: { Master?: IReplicaSpec; Worker?: IReplicaSpec };
    nprocPerNode?: string;
  };
}
