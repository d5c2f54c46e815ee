/* redfish/metadata: the CSDL documents. /redfish/v1/$metadata references
 * every schema the service's resources use (the DMTF's by their published
 * URIs, with the versions vmediad answers with) and the service's own OEM
 * schema, which it serves at REDFISH_OEM_SCHEMA: the types of the
 * Oem.vmedia objects of the Manager and of each VirtualMedia member.
 * Clients and the DMTF's Redfish-Service-Validator read both. */
#include "internal.h"

#include <string.h>

#define DMTF "http://redfish.dmtf.org/schemas/v1/"
#define EDMX_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n"
#define EDMX_TAIL "</edmx:Edmx>\n"
/* A reference to a DMTF schema file and the namespaces used from it. */
#define REF(file, ...) "  <edmx:Reference Uri=\"" DMTF file "\">\n" __VA_ARGS__ \
	"  </edmx:Reference>\n"
#define NS(ns) "    <edmx:Include Namespace=\"" ns "\"/>\n"
#define NS_AS(ns, alias) "    <edmx:Include Namespace=\"" ns "\" Alias=\"" alias "\"/>\n"
#define SCHEMA(ns) "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" " \
	"Namespace=\"" ns "\">\n"

static const char metadata[] =
	EDMX_HEAD
	REF("ServiceRoot_v1.xml", NS("ServiceRoot") NS("ServiceRoot.v1_5_0"))
	REF("ComputerSystemCollection_v1.xml", NS("ComputerSystemCollection"))
	REF("ComputerSystem_v1.xml", NS("ComputerSystem") NS("ComputerSystem.v1_13_0"))
	REF("ManagerCollection_v1.xml", NS("ManagerCollection"))
	REF("Manager_v1.xml", NS("Manager") NS("Manager.v1_10_0"))
	REF("VirtualMediaCollection_v1.xml", NS("VirtualMediaCollection"))
	REF("VirtualMedia_v1.xml", NS("VirtualMedia") NS("VirtualMedia.v1_6_0"))
	REF("TaskService_v1.xml", NS("TaskService") NS("TaskService.v1_1_4"))
	REF("TaskCollection_v1.xml", NS("TaskCollection"))
	REF("Task_v1.xml", NS("Task") NS("Task.v1_4_3"))
	REF("SessionService_v1.xml", NS("SessionService") NS("SessionService.v1_1_8"))
	REF("SessionCollection_v1.xml", NS("SessionCollection"))
	REF("Message_v1.xml", NS("Message") NS("Message.v1_1_1"))
	REF("Resource_v1.xml", NS("Resource") NS("Resource.v1_0_0"))
	"  <edmx:Reference Uri=\"" REDFISH_OEM_SCHEMA "\">\n"
	NS(REDFISH_OEM_NS) NS(REDFISH_OEM_NS ".v1_0_0")
	"  </edmx:Reference>\n"
	"  <edmx:DataServices>\n"
	SCHEMA("Service")
	"      <EntityContainer Name=\"Service\"\n"
	"                       Extends=\"ServiceRoot.v1_5_0.ServiceContainer\"/>\n"
	"    </Schema>\n"
	"  </edmx:DataServices>\n"
	EDMX_TAIL;

#define ANN(term, kind, value) "        <Annotation Term=\"" term "\" " kind "=\"" value "\"/>\n"
#define DESC(text) ANN("OData.Description", "String", text)
#define READ ANN("OData.Permissions", "EnumMember", "OData.Permission/Read")
#define PROP(name, type, nullable, text) "      <Property Name=\"" name "\" Type=\"" type \
	"\" Nullable=\"" nullable "\">\n  " READ "  " DESC(text) "      </Property>\n"
#define CLOSED ANN("OData.AdditionalProperties", "Bool", "false")

static const char oem[] =
	EDMX_HEAD
	"  <edmx:Reference Uri=\"http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/"
	"complete/vocabularies/Org.OData.Core.V1.xml\">\n"
	NS_AS("Org.OData.Core.V1", "OData")
	"  </edmx:Reference>\n"
	REF("RedfishExtensions_v1.xml", NS_AS("RedfishExtensions.v1_0_0", "Redfish"))
	REF("Resource_v1.xml", NS("Resource") NS("Resource.v1_0_0"))
	"  <edmx:DataServices>\n"
	SCHEMA(REDFISH_OEM_NS)
	"      <Annotation Term=\"Redfish.OwningEntity\" String=\"vmedia\"/>\n"
	"    </Schema>\n"
	SCHEMA(REDFISH_OEM_NS ".v1_0_0")
	"      <Annotation Term=\"Redfish.OwningEntity\" String=\"vmedia\"/>\n"
	"      <Annotation Term=\"Redfish.Release\" String=\"1.0\"/>\n"
	"      <ComplexType Name=\"Manager\" BaseType=\"Resource.OemObject\">\n"
	"  " CLOSED "  " DESC("vmedia's additions to the Manager.")
	PROP("Luns", "Edm.Int64", "false", "The number of LUNs of the USB mass-storage gadget.")
	"      </ComplexType>\n"
	"      <ComplexType Name=\"VirtualMedia\" BaseType=\"Resource.OemObject\">\n"
	"  " CLOSED
	"  " DESC("The LUN behind a VirtualMedia member, as vmedia's HTTP API shows it.")
	PROP("Lun", "Edm.Int64", "false", "The LUN's number.")
	PROP("State", "Edm.String", "false",
	     "The LUN's state: empty, inserted, inserting or ejecting.")
	PROP("Cdrom", "Edm.Boolean", "false", "Whether the LUN is a CD-ROM (else a USB disk).")
	PROP("Locked", "Edm.Boolean", "true",
	     "Whether the host has locked the medium (null: the kernel cannot tell).")
	PROP("LastEject", REDFISH_OEM_NS ".v1_0_0.LastEject", "true",
	     "How the last eject went (null: none since vmediad started).")
	PROP("Warning", "Edm.String", "false",
	     "What the host has yet to see, e.g. a type change before it reconfigures.")
	PROP("Task", "Edm.String", "false",
	     "The URI of the task downloading the image for this LUN.")
	"      </ComplexType>\n"
	"      <ComplexType Name=\"LastEject\">\n"
	"  " CLOSED "  " DESC("How an eject went.")
	PROP("method", "Edm.String", "false",
	     "The steps taken, e.g. file, break_io+forced_eject, sigusr1+file.")
	PROP("forced", "Edm.Boolean", "false", "Whether the eject was forced.")
	PROP("ok", "Edm.Boolean", "false", "Whether the medium went out.")
	PROP("elapsed_ms", "Edm.Decimal", "false", "How long the eject took, in milliseconds.")
	PROP("other_luns_affected", "Edm.Boolean", "false",
	     "Whether I/O on the other LUNs was interrupted.")
	PROP("error", "Edm.String", "true", "Why the eject failed (null when it did not).")
	PROP("at", "Edm.DateTimeOffset", "false", "When the eject ended.")
	"      </ComplexType>\n"
	"    </Schema>\n"
	"  </edmx:DataServices>\n"
	EDMX_TAIL;

static void _xml(struct http_req *r, const char *text)
{
	struct MHD_Response *resp;

	if (!redfish_allowed(r, "GET, HEAD"))
		return;
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml");
	MHD_add_response_header(resp, "OData-Version", "4.0");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	http_reply(r, MHD_HTTP_OK, resp);
}

void redfish_metadata(struct http_req *r)
{
	_xml(r, metadata);
}

void redfish_oem_schema(struct http_req *r)
{
	_xml(r, oem);
}
