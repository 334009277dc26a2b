{{/*
The Kubernetes API calls one role makes, as RBAC grants, decided from the configuration the role runs
with. deploy/rbac-calls.yaml lists the same calls with the code that makes them; tests/deploy checks the
rendered Roles against that list both ways, and the list against the code.

Unset keys take kobs's defaults (README configuration reference): k8s.events.enabled true,
composition.enabled true, pod_logs.enabled false, kubelet_stats.enabled false, kubelet_stats.composition true, pod_logs.metadata true,
otlp.k8s_attributes false,
k8s_cluster.enabled false, k8s_cluster.composition true, k8s_cluster.leader_election.enabled false,
k8s.events.leader_election.enabled false, presenter.require_clientconfig false,
presenter.authorize_namespaces false, presenter.clientconfig_namespace krateo-system.
Receivers run only under `kobs all` and `kobs collect`; the presenter only under `all` and `serve`.
Output: a YAML list of {namespace ("": cluster-wide), apiGroup, resources, verbs, resourceNames}.
*/}}
{{- define "kobs.grants" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $get := dict -}}
{{- $cfg := include "kobs.roleConfig" (dict "root" $root "role" $role) | fromYaml -}}
{{- range $key, $default := dict "k8s.events.enabled" "true" "composition.enabled" "true" "pod_logs.enabled" "false" "pod_logs.metadata" "true" "otlp.k8s_attributes" "false" "k8s.events.leader_election.enabled" "false" "k8s.events.leader_election.lease_name" "kobs-k8s-events" "presenter.listen" "" "presenter.require_clientconfig" "false" "presenter.authorize_namespaces" "false" "presenter.clientconfig_namespace" "krateo-system" "k8s.events.namespaces" "" "kubelet_stats.enabled" "false" "kubelet_stats.composition" "true" "k8s_cluster.enabled" "false" "k8s_cluster.composition" "true" "k8s_cluster.leader_election.enabled" "false" "k8s_cluster.leader_election.lease_name" "kobs-k8s-cluster" "alert.rules_file" "" "alert.leader_election.enabled" "false" "alert.leader_election.lease_name" "kobs-alert" -}}
{{- $set := false -}}
{{- $cur := $cfg -}}
{{- if hasKey $cfg $key -}}{{- $set = true -}}{{- $cur = index $cfg $key -}}{{- else -}}
{{- $set = true -}}
{{- range splitList "." $key -}}
{{- if and $set (kindIs "map" $cur) (hasKey $cur .) -}}{{- $cur = index $cur . -}}{{- else -}}{{- $set = false -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- if $set -}}
{{- if kindIs "slice" $cur -}}{{- $_ := set $get $key (join "," $cur) -}}{{- else -}}{{- $_ := set $get $key (toString $cur) -}}{{- end -}}
{{- else -}}
{{- $_ := set $get $key $default -}}
{{- end -}}
{{- end -}}
{{- $receivers := has $role (list "all" "agent" "collector") -}}
{{- $presenter := and (has $role (list "all" "serve")) (ne (index $get "presenter.listen") "") -}}
{{- $events := and $receivers (eq (index $get "k8s.events.enabled") "true") -}}
{{- $podMeta := and $receivers (eq (index $get "pod_logs.enabled") "true") (eq (index $get "pod_logs.metadata") "true") -}}
{{- $otlpK8s := and $receivers (eq (index $get "otlp.k8s_attributes") "true") -}}
{{- $kubelet := and $receivers (eq (index $get "kubelet_stats.enabled") "true") -}}
{{- $kubeletComp := and $kubelet (eq (index $get "kubelet_stats.composition") "true") -}}
{{- $cluster := and $receivers (eq (index $get "k8s_cluster.enabled") "true") -}}
{{- $clusterComp := and $cluster (eq (index $get "k8s_cluster.composition") "true") -}}
{{- $alerting := or (eq $role "alert") (and (eq $role "all") (ne (index $get "alert.rules_file") "")) -}}
{{- $grants := list -}}
{{- if and $alerting (eq (index $get "alert.leader_election.enabled") "true") -}}
  {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "create")) -}}
  {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "get" "update") "resourceNames" (list (index $get "alert.leader_election.lease_name"))) -}}
{{- end -}}
{{- if $events -}}
  {{- $nsList := index $get "k8s.events.namespaces" -}}
  {{- if eq $nsList "" -}}
    {{- $grants = append $grants (dict "namespace" "" "apiGroup" "" "resources" (list "events") "verbs" (list "list" "watch")) -}}
  {{- else -}}
    {{- range splitList "," $nsList -}}
    {{- $grants = append $grants (dict "namespace" (trim .) "apiGroup" "" "resources" (list "events") "verbs" (list "list" "watch")) -}}
    {{- end -}}
  {{- end -}}
  {{- if eq (index $get "k8s.events.leader_election.enabled") "true" -}}
    {{- $lease := index $get "k8s.events.leader_election.lease_name" -}}
    {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "create")) -}}
    {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "get" "update") "resourceNames" (list $lease)) -}}
  {{- end -}}
{{- end -}}
{{- if or $podMeta $otlpK8s -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "" "resources" (list "pods") "verbs" (list "list" "watch")) -}}
{{- end -}}
{{- if $kubelet -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "" "resources" (list "nodes/stats") "verbs" (list "get")) -}}
{{- end -}}
{{- if $cluster -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "" "resources" (list "pods" "nodes" "namespaces" "resourcequotas" "replicationcontrollers") "verbs" (list "list" "watch")) -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "apps" "resources" (list "deployments" "replicasets" "statefulsets" "daemonsets") "verbs" (list "list" "watch")) -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "batch" "resources" (list "jobs" "cronjobs") "verbs" (list "list" "watch")) -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "autoscaling" "resources" (list "horizontalpodautoscalers") "verbs" (list "list" "watch")) -}}
  {{- if eq (index $get "k8s_cluster.leader_election.enabled") "true" -}}
    {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "create")) -}}
    {{- $grants = append $grants (dict "namespace" $root.Release.Namespace "apiGroup" "coordination.k8s.io" "resources" (list "leases") "verbs" (list "get" "update") "resourceNames" (list (index $get "k8s_cluster.leader_election.lease_name"))) -}}
  {{- end -}}
{{- end -}}
{{- if and (or $events $podMeta $otlpK8s $kubeletComp $clusterComp) (eq (index $get "composition.enabled") "true") -}}
  {{- range $root.Values.rbac.compositionResolver -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" .group "resources" .resources "verbs" (list "get")) -}}
  {{- end -}}
{{- end -}}
{{- if and $presenter (eq (index $get "presenter.require_clientconfig") "true") -}}
  {{- $grants = append $grants (dict "namespace" (index $get "presenter.clientconfig_namespace") "apiGroup" "" "resources" (list "secrets") "verbs" (list "get")) -}}
{{- end -}}
{{- if and $presenter (eq (index $get "presenter.authorize_namespaces") "true") -}}
  {{- $grants = append $grants (dict "namespace" "" "apiGroup" "authorization.k8s.io" "resources" (list "subjectaccessreviews") "verbs" (list "create")) -}}
{{- end -}}
{{- toYaml (dict "grants" $grants) -}}
{{- end -}}

{{/* RBAC rules of grants ({grants}). */}}
{{- define "kobs.rules" -}}
{{- range .grants }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: {{ toJson .resources }}
  verbs: {{ toJson .verbs }}
  {{- with .resourceNames }}
  resourceNames: {{ toJson . }}
  {{- end }}
{{- end }}
{{- end -}}
