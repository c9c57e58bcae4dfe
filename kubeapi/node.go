package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Condition is a Node condition as unloop writes it.
type Condition struct {
	Type            string
	Status          corev1.ConditionStatus
	Reason, Message string
}

// SetNodeCondition writes cond on Node name's status and returns the
// status the condition had before ("" when the Node had none of its type)
// and the Node's UID (for Events). As node-problem-detector v1.37
// (pkg/exporters/k8sexporter/problemclient/problem_client.go, SetConditions
// and generatePatch): a strategic merge patch of nodes/NAME/status with the
// one condition, which the API server merges into the list by type, so the
// conditions of kubelet and other writers are never sent, never touched;
// lastHeartbeatTime is now at every write. lastTransitionTime is now only
// when the status changes, else the one the Node holds: NPD keeps it in
// its memory (pkg/util/convert.go, ConvertToAPICondition); unloop reads it
// back (nodes get), so a restarted watch does not move it.
func (c *Client) SetNodeCondition(ctx context.Context, name string, cond Condition, now time.Time) (before corev1.ConditionStatus, uid types.UID, err error) {
	n := &corev1.Node{}
	if err := c.rc.Get().Resource("nodes").Name(name).Do(ctx).Into(n); err != nil {
		return "", "", fmt.Errorf("reading Node %s (credentials: %s): %w", name, c.From, err)
	}
	at := metav1.NewTime(now)
	transition := at
	for _, old := range n.Status.Conditions {
		if string(old.Type) == cond.Type {
			before = old.Status
			if old.Status == cond.Status {
				transition = old.LastTransitionTime
			}
		}
	}
	nc := corev1.NodeCondition{Type: corev1.NodeConditionType(cond.Type), Status: cond.Status, Reason: cond.Reason, Message: cond.Message,
		LastHeartbeatTime: at, LastTransitionTime: transition}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{nc}}})
	if err != nil {
		return "", "", err
	}
	err = c.rc.Patch(types.StrategicMergePatchType).Resource("nodes").Name(name).SubResource("status").
		VersionedParams(&metav1.PatchOptions{FieldManager: "unloop"}, metav1.ParameterCodec).Body(patch).Do(ctx).Error()
	if err != nil {
		return "", "", fmt.Errorf("setting condition %s on Node %s (credentials: %s): %w", cond.Type, name, c.From, err)
	}
	return before, n.UID, nil
}

// EventNamespace is where Events about a Node go: a Node has no namespace,
// and client-go's recorder (which NPD's k8sexporter uses) puts an Event
// whose object has none in "default".
const EventNamespace = metav1.NamespaceDefault

// Event is one Event unloop wrote about a Node, kept to count its repeats.
type Event struct {
	Name            string
	Type            string
	Reason, Message string
	Count           int32
}

// NodeEvent records an Event about Node name (uid: its UID) from component,
// as client-go's recorder does for NPD: the same type, reason and message as
// last (the previous Event written, nil if none) is that Event's count
// raised and lastTimestamp moved (a patch) rather than a new one; anything
// else is a new Event. It returns the Event to pass as last next time.
func (c *Client) NodeEvent(ctx context.Context, name string, uid types.UID, component string, last *Event, typ, reason, message string, now time.Time) (*Event, error) {
	at := metav1.NewTime(now)
	if last != nil && last.Type == typ && last.Reason == reason && last.Message == message {
		count := last.Count + 1
		patch, err := json.Marshal(map[string]any{"count": count, "lastTimestamp": at})
		if err != nil {
			return nil, err
		}
		err = c.rc.Patch(types.StrategicMergePatchType).Namespace(EventNamespace).Resource("events").Name(last.Name).
			Body(patch).Do(ctx).Error()
		if err == nil {
			e := *last
			e.Count = count
			return &e, nil
		}
		// Gone (Events expire after an hour by default): a new one.
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: name + ".", Namespace: EventNamespace},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: uid},
		Type:           typ, Reason: reason, Message: message,
		Source:         corev1.EventSource{Component: component, Host: name},
		FirstTimestamp: at, LastTimestamp: at, Count: 1,
	}
	out := &corev1.Event{}
	if err := c.rc.Post().Namespace(EventNamespace).Resource("events").Body(ev).Do(ctx).Into(out); err != nil {
		return nil, fmt.Errorf("recording Event %s about Node %s (credentials: %s): %w", reason, name, c.From, err)
	}
	return &Event{Name: out.Name, Type: typ, Reason: reason, Message: message, Count: 1}, nil
}
