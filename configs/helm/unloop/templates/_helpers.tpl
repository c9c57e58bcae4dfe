{{/* The labels of one component, check or apply; its selector too. */}}
{{- define "unloop.labels" -}}
app.kubernetes.io/name: unloop
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/*
"true" when prometheus-operator's object of kind is to be rendered:
(list $ .Values.prometheusRule "PrometheusRule"). auto asks the API server
(helm install) or --api-versions (helm template) whether it serves the kind.
*/}}
{{- define "unloop.monitoring" -}}
{{- $v := index . 1 -}}
{{- if eq (toString $v.enabled) "auto" -}}
{{- (index . 0).Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" (index . 2)) -}}
{{- else -}}
{{- $v.enabled -}}
{{- end -}}
{{- end }}

{{/*
One DaemonSet: (dict "root" $ "name" NAME "component" check|apply). The
two differ only in --apply, their nodes and their service account.
*/}}
{{- define "unloop.daemonset" -}}
{{- $v := .root.Values -}}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "unloop.labels" .component | nindent 4 }}
spec:
  selector:
    matchLabels:
      {{- include "unloop.labels" .component | nindent 6 }}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 10%
  template:
    metadata:
      labels:
        {{- include "unloop.labels" .component | nindent 8 }}
    spec:
      {{- if eq .component "apply" }}
      nodeSelector:
        {{ $v.applyNodeLabel.key }}: {{ $v.applyNodeLabel.value | quote }}
      {{- else }}
      # Not where the applying DaemonSet runs: one unloop per node, one
      # listener on port 9958.
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: {{ $v.applyNodeLabel.key }}
                    operator: NotIn
                    values: [{{ $v.applyNodeLabel.value | quote }}]
      {{- end }}
      # The node's own network: its interfaces (nodelocaldns) and the
      # upstreams unloop asks a DNS question, as the node sees them.
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      priorityClassName: system-node-critical
      tolerations:
        - operator: Exists
      # Its token is how unloop reaches the API (in-cluster credentials).
      serviceAccountName: {{ .name }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: unloop
          image: {{ printf "%s:%s" $v.image.repository ($v.image.tag | default .root.Chart.AppVersion) | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          # The image's entrypoint is unloop; kubelet expands $(NODE_IP)
          # from env. The values' extraArgs follow (node_exporter's
          # --textfile, /host/var/lib/node_exporter/textfile_collector/unloop.prom).
          args: ["watch",{{ if eq .component "apply" }} "--apply",{{ end }} "--root", "/host", "--listen", "$(NODE_IP):9958", "--output", "json", "--log-format", "json"{{ range $v.extraArgs }}, {{ . | quote }}{{ end }}]
          ports:
            - name: metrics
              containerPort: 9958
          # ok while the watches are in place and the last check is recent. Any pod
          # can reach the listener: at 32 connections a new one closes the one idle
          # longest, else the oldest silent one (cmd/unloop/cli/serve.go): the probe
          # is served.
          livenessProbe:
            httpGet:
              path: /healthz
              port: 9958
            initialDelaySeconds: 60
            periodSeconds: 60
            failureThreshold: 3
          env:
            - name: NODE_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.hostIP
            # The Node whose condition and Events watch writes (--node-name,
            # DESIGN.md §6a).
            - name: NODE_NAME
              valueFrom:
                fieldRef:
                  fieldPath: spec.nodeName
            # The host's bus, inside the host's tree.
            - name: DBUS_SYSTEM_BUS_ADDRESS
              value: unix:path=/host/run/dbus/system_bus_socket
            # The host's /etc/unloop/unloop.yaml (read as given, not under --root).
            - name: UNLOOP_CONFIG
              value: /host/etc/unloop/unloop.yaml
          securityContext:
            privileged: true
            runAsUser: 0
          resources:
            requests:
              cpu: 5m
              memory: 16Mi
            limits:
              memory: 128Mi
          volumeMounts:
            - name: host
              mountPath: /host
              # /host/run (the bus) and the host's other mounts follow.
              # No hostPID: the runtime bind-mounts a hostPath recursively
              # ("rbind" in containerd's CRI WithMounts and in CRI-O), so
              # /host/proc is the host's own procfs, which shows the PID
              # namespace it was mounted in, the host's (proc(5)), whatever
              # the pod's own. unloop finds the running kubelet there and
              # follows /host/proc/PID/root with the CAP_SYS_PTRACE that
              # privileged gives (without it: kubelet's files, and a note).
              mountPropagation: HostToContainer
      volumes:
        - name: host
          hostPath:
            path: /
            type: Directory
{{- end }}
